-- Lower-case customer e-mail addresses
--
-- What and why: sign-up stored e-mails as typed, so log-ins with another case
--               failed (ticket DATA-101). Lower-case them once; the app now
--               lower-cases on write.
-- Checked:      dry run reported 3 rows; the same 3 rows as the SELECT below.
--               SELECT id, email FROM customers WHERE email <> lower(email);
-- Undo:         not reversible without the old values; a backup was taken.

UPDATE customers SET email = lower(email) WHERE email <> lower(email);
