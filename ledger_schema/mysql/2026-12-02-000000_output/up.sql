-- What an attempt printed, a line each in order (kind: statement, notice,
-- log, effect, truncated), bounded per attempt.
CREATE TABLE oneoff_output (
    run_id    VARCHAR(36) NOT NULL,
    script_id VARCHAR(14) NOT NULL,
    seq       INTEGER     NOT NULL,
    kind      VARCHAR(16) NOT NULL,
    message   TEXT        NOT NULL,
    PRIMARY KEY (run_id, script_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
