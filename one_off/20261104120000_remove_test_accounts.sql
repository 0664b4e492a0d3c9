-- Remove QA test accounts from production
--
-- What and why: QA created accounts in production during the launch; they
--               skew the metrics (ticket DATA-123).
-- Checked:      dry run reported 2 rows: ids 4 and 5, both qa+ addresses.
-- Undo:         re-insert from the dry-run listing if ever needed.
--
-- Exactly the two QA accounts go, and no test account is left behind:
-- oneoff:expect-rows 2
-- oneoff:verify SELECT id, email FROM customers WHERE is_test = TRUE

DELETE FROM customers WHERE is_test = TRUE AND email LIKE 'qa+%@example.com';
