-- Grouped scripts (issue 8): consecutive transactional scripts share one
-- transaction and one commit. A run writes the list of scripts it may run
-- here (JSON) before they run, committed on its own; the place in that list
-- of the script in flight goes into the sequence, which no rollback undoes.
-- A runner killed mid-script leaves both, and the next runner records that
-- script `interrupted`. NULL: no list.
ALTER TABLE oneoff_lock ADD COLUMN in_flight TEXT;
CREATE SEQUENCE oneoff_in_flight MINVALUE 0 START 0;
