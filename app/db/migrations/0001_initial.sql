-- The seed's tables (users, customers, subscriptions, domains, websites, servers,
-- dns_zones) and what the automated flow needs around them.

CREATE TABLE plans (
    id                    serial PRIMARY KEY,
    slug                  text NOT NULL UNIQUE,
    name                  text NOT NULL,
    whm_package           text NOT NULL,
    disk_quota_mb         integer NOT NULL CHECK (disk_quota_mb > 0),
    bandwidth_mb          integer NOT NULL CHECK (bandwidth_mb > 0),
    mailbox_count         integer NOT NULL CHECK (mailbox_count >= 1),
    mailbox_quota_mb      integer NOT NULL DEFAULT 1024,
    price_monthly_cents   integer NOT NULL CHECK (price_monthly_cents >= 0),
    price_yearly_cents    integer NOT NULL CHECK (price_yearly_cents >= 0),
    currency              text NOT NULL DEFAULT 'usd',
    stripe_price_monthly  text,
    stripe_price_yearly   text,
    active                boolean NOT NULL DEFAULT true
);

CREATE TABLE promo_codes (
    id                serial PRIMARY KEY,
    code              text NOT NULL UNIQUE,
    percent_off       integer CHECK (percent_off BETWEEN 1 AND 100),
    amount_off_cents  integer CHECK (amount_off_cents > 0),
    stripe_coupon_id  text,
    active            boolean NOT NULL DEFAULT true,
    expires_at        timestamptz,
    CHECK ((percent_off IS NULL) <> (amount_off_cents IS NULL))
);

CREATE TABLE users (
    id                    bigserial PRIMARY KEY,
    email                 text NOT NULL,
    password_hash         text NOT NULL,          -- argon2id
    status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    must_change_password  boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_login_at         timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE customers (
    id                  bigserial PRIMARY KEY,
    user_id             bigint NOT NULL UNIQUE REFERENCES users(id),
    first_name          text NOT NULL,
    last_name           text NOT NULL,
    company             text,
    phone               text,
    address_line1       text,
    city                text,
    state               text,
    postal_code         text,
    country             text,
    stripe_customer_id  text UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE servers (
    id                serial PRIMARY KEY,
    hostname          text NOT NULL UNIQUE,
    ip_address        inet NOT NULL,
    role              text NOT NULL DEFAULT 'web' CHECK (role IN ('web', 'mail', 'dns')),
    whm_endpoint      text NOT NULL DEFAULT 'default',  -- which WHM credentials the worker uses
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'draining', 'offline')),
    capacity          integer NOT NULL DEFAULT 500 CHECK (capacity >= 0),
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id                          bigserial PRIMARY KEY,
    customer_id                 bigint NOT NULL REFERENCES customers(id),
    plan_id                     integer NOT NULL REFERENCES plans(id),
    billing_cycle               text NOT NULL CHECK (billing_cycle IN ('monthly', 'yearly')),
    status                      text NOT NULL DEFAULT 'pending_payment' CHECK (status IN (
                                    'pending_payment', 'active', 'past_due', 'suspended',
                                    'canceled', 'terminated')),
    -- What the worker last made true (or failed to): the converge outcome, apart from billing.
    provisioning_status         text NOT NULL DEFAULT 'pending' CHECK (provisioning_status IN (
                                    'pending', 'provisioning', 'ready', 'failed', 'destroying', 'destroyed')),
    provisioning_error          text,
    server_id                   integer REFERENCES servers(id),
    promo_code                  text,
    amount_cents                integer,
    test_mode                   boolean NOT NULL DEFAULT false,
    stripe_checkout_session_id  text UNIQUE,
    stripe_subscription_id      text UNIQUE,
    stripe_customer_id          text,
    current_period_end          timestamptz,
    cancel_at_period_end        boolean NOT NULL DEFAULT false,
    past_due_since              timestamptz,
    terminate_after             timestamptz,
    utm_source                  text,
    utm_medium                  text,
    utm_campaign                text,
    utm_term                    text,
    utm_content                 text,
    activated_at                timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_customer_idx ON subscriptions (customer_id);

CREATE TABLE domains (
    id                    bigserial PRIMARY KEY,
    subscription_id       bigint NOT NULL REFERENCES subscriptions(id),
    customer_id           bigint NOT NULL REFERENCES customers(id),
    name                  text NOT NULL CHECK (name = lower(name)),
    mode                  text NOT NULL CHECK (mode IN ('new_registration', 'transfer', 'external')),
    auth_code_encrypted   bytea,               -- transfer EPP code, Fernet-encrypted
    status                text NOT NULL DEFAULT 'pending' CHECK (status IN (
                              'pending', 'registering', 'transfer_pending', 'active', 'external',
                              'failed', 'released')),
    registrar             text,
    expires_at            timestamptz,
    auto_renew            boolean,
    nameservers           text[],
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
-- One live hosting order per domain; a released domain may be ordered again.
CREATE UNIQUE INDEX domains_name_live_key ON domains (name) WHERE status <> 'released';

CREATE TABLE websites (
    id                bigserial PRIMARY KEY,
    subscription_id   bigint NOT NULL UNIQUE REFERENCES subscriptions(id),
    domain_id         bigint NOT NULL REFERENCES domains(id),
    server_id         integer REFERENCES servers(id),
    cpanel_username   text,
    cpanel_url        text,
    document_root     text,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN (
                          'pending', 'provisioning', 'active', 'suspended', 'failed', 'removed')),
    ssl_expires_at    timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dns_zones (
    id          bigserial PRIMARY KEY,
    domain_id   bigint NOT NULL UNIQUE REFERENCES domains(id),
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active', 'removed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Customer-added records beyond the defaults the zone provider writes.
CREATE TABLE dns_records (
    id          bigserial PRIMARY KEY,
    domain_id   bigint NOT NULL REFERENCES domains(id),
    name        text NOT NULL,                -- relative to the zone, '@' for the apex
    type        text NOT NULL CHECK (type IN ('A', 'AAAA', 'CNAME', 'TXT', 'MX', 'SRV', 'CAA')),
    content     text NOT NULL,
    ttl         integer NOT NULL DEFAULT 3600 CHECK (ttl BETWEEN 60 AND 86400),
    UNIQUE (domain_id, name, type, content)
);

CREATE TABLE mailboxes (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES subscriptions(id),
    local_part       text NOT NULL CHECK (local_part ~ '^[a-z0-9._-]{1,64}$'),
    quota_mb         integer NOT NULL DEFAULT 1024 CHECK (quota_mb BETWEEN 10 AND 102400),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, local_part)
);

CREATE TABLE stripe_events (
    id           text PRIMARY KEY,              -- evt_...: Stripe delivers at least once
    type         text NOT NULL,
    created      timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    payload      jsonb NOT NULL
);

CREATE TABLE payments (
    id                        bigserial PRIMARY KEY,
    subscription_id           bigint REFERENCES subscriptions(id),
    stripe_payment_intent_id  text UNIQUE,
    stripe_invoice_id         text,
    amount_cents              integer NOT NULL,
    currency                  text NOT NULL,
    status                    text NOT NULL CHECK (status IN ('succeeded', 'failed', 'refunded')),
    failure_code              text,
    created_at                timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE provisioning_runs (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES subscriptions(id),
    operation        text NOT NULL CHECK (operation IN ('up', 'preview', 'refresh', 'destroy')),
    status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    summary          jsonb,                     -- resource changes by kind
    drift            boolean,
    error            text
);
CREATE INDEX provisioning_runs_subscription_idx ON provisioning_runs (subscription_id, started_at DESC);

CREATE TABLE provisioning_events (
    id               bigserial PRIMARY KEY,
    run_id           bigint NOT NULL REFERENCES provisioning_runs(id),
    subscription_id  bigint NOT NULL REFERENCES subscriptions(id),
    at               timestamptz NOT NULL DEFAULT now(),
    urn              text,
    resource_type    text,
    resource_name    text,
    op               text,                      -- create, update, replace, delete, same, refresh
    status           text NOT NULL,             -- started, done, failed, info
    message          text,
    duration_ms      integer
);
CREATE INDEX provisioning_events_run_idx ON provisioning_events (run_id, id);

CREATE TABLE emails_sent (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint REFERENCES subscriptions(id),
    kind             text NOT NULL,             -- welcome, suspended, reactivated, canceled
    dedupe_key       text NOT NULL UNIQUE,      -- e.g. welcome:42: exactly once by record
    recipient        text NOT NULL,
    subject          text NOT NULL,
    message_id       text,
    sent_at          timestamptz NOT NULL DEFAULT now()
);
