ALTER TABLE oneoff_ledger DROP COLUMN committed_checksum;
ALTER TABLE oneoff_ledger DROP COLUMN committed;
