-- Give every customer a referral code
--
-- What and why: referral codes launch next week (ticket DATA-130); existing
--               customers need one. Batched, so that a table of millions of
--               rows is filled in small transactions that resume after a
--               failure; 2 rows a batch here only to show the batches.
-- Checked:      dry run: first batch 2 rows of 4 to do.
-- Undo:         UPDATE customers SET code = NULL;
-- oneoff:batch
-- oneoff:total SELECT COUNT(*) FROM customers WHERE code IS NULL
-- oneoff:verify SELECT id FROM customers WHERE code IS NULL

UPDATE customers SET code = 'REF-' || id
WHERE id IN (SELECT id FROM customers WHERE code IS NULL LIMIT 2);
