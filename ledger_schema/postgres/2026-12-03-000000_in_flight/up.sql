-- Grouped scripts (issue 8): consecutive transactional scripts share one
-- transaction and one commit; the script in flight is named here, written
-- on a second connection outside that transaction, so that the next runner
-- can record it `interrupted` if this one dies. JSON, as SQLite's lock file
-- holds it; NULL: no script in flight.
ALTER TABLE oneoff_lock ADD COLUMN in_flight TEXT;
