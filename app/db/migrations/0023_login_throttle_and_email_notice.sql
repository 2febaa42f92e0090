-- Issue 23 items 1, 4, 5: guessing is slowed, never a lockout the owner cannot pass.
-- One row per (what is guarded, who is counted): the key is 'pair:<account>|<address>',
-- 'address:<address>' or 'account:<account>'. A guess reads and writes its rows under a row
-- lock (app/db/common/throttle.py), so parallel guesses are counted one after another.
CREATE TABLE IF NOT EXISTS login_throttle (
    scope            text NOT NULL,         -- customer_login, staff_login, password_reset, totp
    key              text NOT NULL,
    failures         integer NOT NULL DEFAULT 0,
    last_failure_at  timestamptz,
    next_allowed_at  timestamptz NOT NULL DEFAULT now(),
    last_success_at  timestamptz,           -- pair rows: this address signed in to this account
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS login_throttle_last_failure_idx ON login_throttle (last_failure_at);

-- The staff lockout it replaces counted staff_login_attempts; that table stays as a record
-- of attempts (the audit log has each one too) but no longer decides anything.

-- A staff session ends when its password is set again (set-password link) as when disabled;
-- customers' sessions carry users.session_generation (0020), now bumped by logout, password
-- change or reset, and email change.

-- An email change tells the address it replaced (with a link to secure the account): the
-- confirmed link's row keeps that address for the notice's mail job.
ALTER TABLE account_tokens ADD COLUMN IF NOT EXISTS previous_email text;
