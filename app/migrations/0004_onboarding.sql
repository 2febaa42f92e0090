-- When the customer finished (or skipped) the first-time login wizard; NULL: show it.
ALTER TABLE users ADD COLUMN onboarded_at timestamptz;
