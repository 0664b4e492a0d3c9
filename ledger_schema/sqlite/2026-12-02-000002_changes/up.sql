-- The change log of revertible scripts: every row a script inserted,
-- updated or deleted, in order, with its key and values as JSON (NULL old
-- for an insert, NULL new for a delete). `oneoff revert` undoes them.
CREATE TABLE oneoff_changes (
    script_id  VARCHAR(14) NOT NULL,
    run_id     VARCHAR(36) NOT NULL,
    seq        BIGINT      NOT NULL,
    table_name TEXT        NOT NULL,
    op         VARCHAR(8)  NOT NULL,
    row_key    TEXT        NOT NULL,
    old_values TEXT,
    new_values TEXT,
    PRIMARY KEY (script_id, run_id, seq)
);

-- Where MySQL's capture triggers stage a running script's rows (MySQL
-- triggers cannot write a session's temporary table); unused elsewhere.
CREATE TABLE oneoff_capture (
    seq        INTEGER     PRIMARY KEY AUTOINCREMENT,
    capture    VARCHAR(32) NOT NULL,
    table_name TEXT        NOT NULL,
    op         VARCHAR(8)  NOT NULL,
    row_key    TEXT        NOT NULL,
    old_values TEXT,
    new_values TEXT
);
