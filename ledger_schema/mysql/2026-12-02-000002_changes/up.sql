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
