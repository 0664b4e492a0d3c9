DROP TABLE oneoff_capture;
DROP TABLE oneoff_changes;
