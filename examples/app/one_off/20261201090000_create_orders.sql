-- Create the example application's tables
-- oneoff:no-transaction

CREATE TABLE orders (
    id    INTEGER PRIMARY KEY,
    total INTEGER,
    code  VARCHAR(20)
);

-- One row per step a script took, so that a step done twice shows.
CREATE TABLE steps (
    script VARCHAR(40) NOT NULL,
    step   INTEGER     NOT NULL
);
