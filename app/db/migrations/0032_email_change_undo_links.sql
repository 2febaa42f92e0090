-- Issue 23: the notice sent to the address an email change replaced carries a one-time link
-- that undoes the change (the old address back, every session ended). Kept like the other
-- links: the SHA-256 of the token to find it, the token sealed until the notice is written.
-- `undoes` names the email change it reverts; the undo's `recipient` is the old address.
ALTER TABLE account_tokens DROP CONSTRAINT IF EXISTS account_tokens_purpose_check;
ALTER TABLE account_tokens ADD CONSTRAINT account_tokens_purpose_check
    CHECK (purpose IN ('password_reset', 'email_change', 'email_change_undo'));
ALTER TABLE account_tokens ADD COLUMN IF NOT EXISTS undoes bigint REFERENCES account_tokens(id) ON DELETE CASCADE;
CREATE UNIQUE INDEX IF NOT EXISTS account_tokens_undoes_idx ON account_tokens (undoes) WHERE undoes IS NOT NULL;
