-- Progress of batched scripts: batches committed so far and the rows to do.
ALTER TABLE oneoff_ledger ADD COLUMN batches BIGINT;
ALTER TABLE oneoff_ledger ADD COLUMN rows_total BIGINT;
ALTER TABLE oneoff_runs ADD COLUMN batches BIGINT;
