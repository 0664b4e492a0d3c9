-- The ledger: one row per script, the latest outcome.
CREATE TABLE oneoff_ledger (
    id            VARCHAR(14) PRIMARY KEY NOT NULL,
    name          TEXT        NOT NULL,
    checksum      VARCHAR(64) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    started_at    TIMESTAMP(3),
    finished_at   TIMESTAMP(3),
    duration_ms   BIGINT,
    rows_affected BIGINT,
    error         TEXT,
    run_by        TEXT        NOT NULL,
    tool_version  TEXT        NOT NULL,
    note          TEXT
);

-- The history: one row per attempt, never overwritten by a retry.
CREATE TABLE oneoff_runs (
    run_id        VARCHAR(36) NOT NULL,
    script_id     VARCHAR(14) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    started_at    TIMESTAMP(3)   NOT NULL,
    finished_at   TIMESTAMP(3),
    duration_ms   BIGINT,
    rows_affected BIGINT,
    error         TEXT,
    run_by        TEXT        NOT NULL,
    note          TEXT,
    dry_run       BOOLEAN     NOT NULL DEFAULT FALSE,
    PRIMARY KEY (run_id, script_id)
);
CREATE INDEX oneoff_runs_script_id ON oneoff_runs (script_id);

-- Who holds the run lock (the lock itself is a session advisory lock).
CREATE TABLE oneoff_lock (
    id          INTEGER PRIMARY KEY NOT NULL,
    holder      TEXT      NOT NULL,
    pid         INTEGER   NOT NULL,
    acquired_at TIMESTAMP(3) NOT NULL
);
