DROP TABLE oneoff_lock;
DROP TABLE oneoff_runs;
DROP TABLE oneoff_ledger;
