-- Issue 23 item 7: a customer's optional second factor (TOTP) and its recovery codes.
-- The secret is sealed like the staff's (MPANEL_ENCRYPTION_KEY); it is written when enrolment
-- starts and counts only once a first code confirmed it (totp_enabled_at).
ALTER TABLE users ADD COLUMN IF NOT EXISTS totp_secret bytea;        -- Fernet-sealed base32 secret
ALTER TABLE users ADD COLUMN IF NOT EXISTS totp_enabled_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS totp_last_step bigint;    -- a code works once

-- Shown once at enrolment; only the argon2 hash is kept, and a code works once.
CREATE TABLE IF NOT EXISTS user_recovery_codes (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash   text NOT NULL,
    used_at     timestamptz
);
CREATE INDEX IF NOT EXISTS user_recovery_codes_user_idx ON user_recovery_codes (user_id);
