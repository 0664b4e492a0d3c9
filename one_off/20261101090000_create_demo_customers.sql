-- Create and fill the demo `customers` table
--
-- What and why: the demo needs data to fix; a real project's scripts work on
--               tables its application already has.
-- Checked:      `oneoff run --dry-run 20261101090000` reports 6 rows.
-- Undo:         DROP TABLE customers;

CREATE TABLE customers (
    id       INTEGER PRIMARY KEY,
    email    VARCHAR(255) NOT NULL,
    spend    INTEGER      NOT NULL DEFAULT 0,
    tier     VARCHAR(16),
    code     VARCHAR(16),
    is_test  BOOLEAN      NOT NULL DEFAULT FALSE
);

INSERT INTO customers (id, email, spend, is_test) VALUES
    (1, 'Ada@Example.COM',      1200, FALSE),
    (2, 'grace@example.com',     300, FALSE),
    (3, 'Linus@Example.com',      40, FALSE),
    (4, 'qa+1@example.com',        0, TRUE),
    (5, 'qa+2@example.com',        0, TRUE),
    (6, 'Margaret@example.com', 5000, FALSE);
