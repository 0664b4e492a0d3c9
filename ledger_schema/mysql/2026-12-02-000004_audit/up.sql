-- The audit trail (issue 11): who ran each oneoff command, from where, as
-- which database user, with which oneoff, on which environment; the
-- checksum each attempt ran; and the approvals of protected environments.

-- One row per oneoff command that wrote the ledger (run, dry run, approve,
-- skip, mark): oneoff_runs.run_id points here.
CREATE TABLE oneoff_invocations (
    run_id       VARCHAR(36)  PRIMARY KEY NOT NULL,
    command      VARCHAR(16)  NOT NULL,
    environment  VARCHAR(64),
    os_user      VARCHAR(255) NOT NULL,
    host         VARCHAR(255) NOT NULL,
    db_user      VARCHAR(255),
    tool_version VARCHAR(32)  NOT NULL,
    started_at   DATETIME(3)    NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The checksum of the file an attempt (or dry run, or decision) was about.
ALTER TABLE oneoff_runs ADD COLUMN checksum VARCHAR(64);

-- An approval of one version (checksum) of a script for one environment.
CREATE TABLE oneoff_approvals (
    run_id      VARCHAR(36)  NOT NULL,
    script_id   VARCHAR(14)  NOT NULL,
    environment VARCHAR(64)  NOT NULL,
    checksum    VARCHAR(64)  NOT NULL,
    approved_by VARCHAR(255) NOT NULL,
    reason      TEXT         NOT NULL,
    approved_at DATETIME(3)    NOT NULL,
    PRIMARY KEY (run_id, script_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX oneoff_approvals_script ON oneoff_approvals (script_id, environment);
