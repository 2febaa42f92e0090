-- Issue 14 item 6: the customer's account (password change, forgot password, email change).
-- A session carries the generation it was issued under; a password change bumps it, so every
-- other session of that user is refused at its next request (the sessions are signed cookies).
ALTER TABLE users ADD COLUMN IF NOT EXISTS session_generation integer NOT NULL DEFAULT 0;

-- One-time links: only the SHA-256 of the token is kept to look it up. The mail job needs the
-- token itself once, to write the email, so it is kept sealed (Fernet) until sent, then dropped.
CREATE TABLE IF NOT EXISTS account_tokens (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose       text NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
    token_hash    bytea NOT NULL UNIQUE,
    token_sealed  bytea,
    recipient     text NOT NULL,            -- where the link goes (the new address for email_change)
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX IF NOT EXISTS account_tokens_user_idx ON account_tokens (user_id, purpose);
