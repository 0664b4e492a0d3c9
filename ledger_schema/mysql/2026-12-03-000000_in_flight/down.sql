ALTER TABLE oneoff_lock DROP COLUMN in_flight;
