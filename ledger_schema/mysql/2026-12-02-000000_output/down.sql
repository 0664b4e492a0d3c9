DROP TABLE oneoff_output;
