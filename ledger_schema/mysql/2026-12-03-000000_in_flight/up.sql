-- The in-flight marker of grouped scripts. This backend keeps it elsewhere
-- (SQLite: in the lock file beside the database) or does not group scripts
-- (MySQL); the column keeps the ledger's tables alike on every backend.
ALTER TABLE oneoff_lock ADD COLUMN in_flight TEXT;
