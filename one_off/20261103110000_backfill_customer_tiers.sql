-- Backfill the customer tier from lifetime spend
--
-- What and why: the new `tier` column is empty for existing customers; the
--               pricing page needs it (ticket DATA-117).
-- Checked:      dry run: 2 gold, 1 silver, 3 bronze, as the finance report says.
-- Undo:         UPDATE customers SET tier = NULL;

UPDATE customers SET tier = 'gold'   WHERE tier IS NULL AND spend >= 1000;
UPDATE customers SET tier = 'silver' WHERE tier IS NULL AND spend >= 100;
UPDATE customers SET tier = 'bronze' WHERE tier IS NULL;
