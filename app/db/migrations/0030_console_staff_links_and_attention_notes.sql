-- The console manages staff and works the needs-attention queue (issue 26, items 6 and 7). Additive only.

-- A set-password link the console emails: the token sealed (MPANEL_ENCRYPTION_KEY) until the
-- mail job has written it into the email, then dropped; only its hash stays, as before.
ALTER TABLE staff_password_tokens ADD COLUMN token_sealed bytea;

-- The operators' note on a subscription in the needs-attention queue, and who wrote it when.
-- Who last acted on it is read from staff_audit_log (its subscription index), not kept twice.
CREATE TABLE attention_notes (
    subscription_id  bigint PRIMARY KEY REFERENCES subscriptions(id),
    note             text NOT NULL,
    noted_by         text NOT NULL,
    noted_at         timestamptz NOT NULL DEFAULT now()
);
