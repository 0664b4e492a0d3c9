-- What a script's latest attempt committed outside a rolled-back transaction
-- (no-transaction scripts, or a script that ended oneoff's transaction):
-- the number of leading statements known committed, and the SHA-256 of
-- their text ('unknown' when more may have committed), so that
-- `run --retry` resumes after them or refuses.
ALTER TABLE oneoff_ledger ADD COLUMN committed BIGINT;
ALTER TABLE oneoff_ledger ADD COLUMN committed_checksum VARCHAR(64);
