ALTER TABLE oneoff_runs DROP COLUMN batches;
ALTER TABLE oneoff_ledger DROP COLUMN rows_total;
ALTER TABLE oneoff_ledger DROP COLUMN batches;
