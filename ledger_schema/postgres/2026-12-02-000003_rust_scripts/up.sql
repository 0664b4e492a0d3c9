-- A Rust script's last committed checkpoint: the cursor it resumes from
-- (JSON), written in the same transaction as the work and the progress.
CREATE TABLE oneoff_cursors (
    script_id VARCHAR(14) NOT NULL PRIMARY KEY,
    run_id    VARCHAR(36) NOT NULL,
    cursor_json TEXT      NOT NULL
);
