-- The operators' console (issue 11): staff accounts apart from customers', their sessions,
-- login attempts for rate limiting, an append-only audit log, and the indexes its lists need.

CREATE TABLE staff_users (
    id              bigserial PRIMARY KEY,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'support')),
    password_hash   text,                 -- argon2id; NULL until the set-password link is used
    totp_secret     bytea,                -- Fernet-encrypted base32 secret; NULL: no second factor
    totp_last_step  bigint,               -- the last code's time step used: a code works once
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);
CREATE UNIQUE INDEX staff_users_email_key ON staff_users (lower(email));

-- A set-password link: only the token's hash is kept, used once, short-lived.
CREATE TABLE staff_password_tokens (
    token_hash   text PRIMARY KEY,
    staff_id     bigint NOT NULL REFERENCES staff_users(id),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

-- Sessions live here (the cookie holds only a random id, whose hash is the key), so an
-- operator's session can be revoked, and each request re-reads the account's status.
CREATE TABLE staff_sessions (
    id_hash       text PRIMARY KEY,
    staff_id      bigint NOT NULL REFERENCES staff_users(id),
    csrf          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    address       text
);
CREATE INDEX staff_sessions_staff_idx ON staff_sessions (staff_id) WHERE revoked_at IS NULL;

-- Every login attempt, by the email typed and the client address: the lockout counts the
-- recent failures of each.
CREATE TABLE staff_login_attempts (
    id         bigserial PRIMARY KEY,
    email      text NOT NULL,
    address    text NOT NULL,
    succeeded  boolean NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_login_attempts_email_idx ON staff_login_attempts (lower(email), at);
CREATE INDEX staff_login_attempts_address_idx ON staff_login_attempts (address, at);

-- Who did what, to which subscription, when, and how it went. Kept forever; the console
-- only ever inserts (the trigger refuses edits and deletes from anyone).
CREATE TABLE staff_audit_log (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    staff_id         bigint REFERENCES staff_users(id),
    staff_email      text NOT NULL,
    action           text NOT NULL,
    subscription_id  bigint,
    outcome          text NOT NULL,
    detail           text,
    address          text
);
CREATE INDEX staff_audit_log_subscription_idx ON staff_audit_log (subscription_id, id DESC);
CREATE INDEX staff_audit_log_at_idx ON staff_audit_log (id DESC);

CREATE FUNCTION staff_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'staff_audit_log is append-only';
END $$;
CREATE TRIGGER staff_audit_log_append_only BEFORE UPDATE OR DELETE ON staff_audit_log
    FOR EACH ROW EXECUTE FUNCTION staff_audit_log_append_only();

-- The console's subscription list: newest first, filtered by billing or stack state, and
-- searched by domain (prefix), email, or a Stripe id (exact; those are unique already).
CREATE INDEX IF NOT EXISTS subscriptions_status_id_idx ON subscriptions (status, id DESC);
CREATE INDEX IF NOT EXISTS subscriptions_provisioning_id_idx ON subscriptions (provisioning_status, id DESC);
CREATE INDEX IF NOT EXISTS domains_subscription_idx ON domains (subscription_id);
CREATE INDEX IF NOT EXISTS domains_name_prefix_idx ON domains (name text_pattern_ops);
CREATE INDEX IF NOT EXISTS users_email_prefix_idx ON users (lower(email) text_pattern_ops);
CREATE INDEX IF NOT EXISTS customers_stripe_idx ON customers (stripe_customer_id);
-- Overview: recent runs and converges per hour.
CREATE INDEX IF NOT EXISTS provisioning_runs_started_idx ON provisioning_runs (started_at DESC);
CREATE INDEX IF NOT EXISTS emails_sent_subscription_idx ON emails_sent (subscription_id, id DESC);
CREATE INDEX IF NOT EXISTS payments_subscription_idx ON payments (subscription_id, id DESC);
-- A subscription's page lists the Stripe events that named its checkout or subscription.
CREATE INDEX IF NOT EXISTS stripe_events_object_idx ON stripe_events ((payload->'data'->'object'->>'id'));
CREATE INDEX IF NOT EXISTS stripe_events_subscription_idx
    ON stripe_events ((payload->'data'->'object'->>'subscription'));
