DROP TABLE oneoff_cursors;
