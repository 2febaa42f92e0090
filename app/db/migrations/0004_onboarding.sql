-- When the customer finished (or skipped) the first-time login wizard; NULL: show it.
ALTER TABLE users ADD COLUMN onboarded_at timestamptz;
-- Customers who have logged in before this existed know their way around: no wizard for them.
UPDATE users SET onboarded_at = now() WHERE last_login_at IS NOT NULL;
