-- A customer's "reset my cPanel password": the number asked for, and the number the last
-- successful converge applied (its new password is then emailed, once per number).
ALTER TABLE websites ADD COLUMN cpanel_password_resets integer NOT NULL DEFAULT 0;
ALTER TABLE websites ADD COLUMN cpanel_password_applied integer NOT NULL DEFAULT 0;
