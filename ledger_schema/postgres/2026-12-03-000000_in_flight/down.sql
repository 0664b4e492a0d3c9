DROP SEQUENCE oneoff_in_flight;
ALTER TABLE oneoff_lock DROP COLUMN in_flight;
