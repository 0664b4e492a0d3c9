-- The change log of revertible scripts: every row a script inserted,
-- updated or deleted, in order, with its key and values as JSON (NULL old
-- for an insert, NULL new for a delete). `oneoff revert` undoes them.
CREATE TABLE oneoff_changes (
    script_id  VARCHAR(14) NOT NULL,
    run_id     VARCHAR(36) NOT NULL,
    seq        BIGINT      NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    op         VARCHAR(8)  NOT NULL,
    row_key    TEXT        NOT NULL,
    old_values LONGTEXT,
    new_values LONGTEXT,
    PRIMARY KEY (script_id, run_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Where the capture triggers stage a running script's rows, tagged with
-- its capture's random id (a trigger cannot write a session's temporary
-- table: other sessions would fail on it).
CREATE TABLE oneoff_capture (
    seq        BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    capture    VARCHAR(32)  NOT NULL,
    table_name VARCHAR(255) NOT NULL,
    op         VARCHAR(8)   NOT NULL,
    row_key    TEXT         NOT NULL,
    old_values LONGTEXT,
    new_values LONGTEXT,
    KEY oneoff_capture_by_capture (capture, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
