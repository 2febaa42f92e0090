-- The mail-core server's own database: Dovecot reads it (tools/services/servers.py),
-- the mail providers write it (providers/clients/mailcore.py). Idempotent.
CREATE TABLE IF NOT EXISTS mail_domains (
    name             text PRIMARY KEY,
    dkim_selector    text NOT NULL DEFAULT 'mpanel',
    dkim_private_key text,            -- PEM, encrypted at rest by the provider
    owner            text,            -- the mpanel stack ("sub-42") that made it; mailboxes inherit it
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- Databases made before the owner mark existed (providers/clients/mailcore.py does the same on first use).
ALTER TABLE mail_domains ADD COLUMN IF NOT EXISTS owner text;
-- Whether mail from other tenants and from our own services is delivered here (a domain we
-- registered, or one whose control was proven) or relayed out as for any foreign domain (an
-- external or transfer order before proof). Its mailboxes log in either way.
ALTER TABLE mail_domains ADD COLUMN IF NOT EXISTS routable boolean NOT NULL DEFAULT true;
CREATE TABLE IF NOT EXISTS mailboxes (
    address       text PRIMARY KEY,
    local_part    text NOT NULL,
    domain        text NOT NULL REFERENCES mail_domains(name) ON DELETE CASCADE,
    password_hash text NOT NULL,      -- {ARGON2ID}$argon2id$...
    quota_mb      integer NOT NULL DEFAULT 1024,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);
