DROP TABLE oneoff_approvals;
ALTER TABLE oneoff_runs DROP COLUMN checksum;
DROP TABLE oneoff_invocations;
