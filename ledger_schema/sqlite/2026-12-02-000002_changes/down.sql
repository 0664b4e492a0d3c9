DROP TABLE oneoff_changes;
