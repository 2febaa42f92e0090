-- Issue 25 item 2: accounts another system left on a web server, taken over by an operator's
-- `mpanel import account` (app/services/operators/imports.py). The subscription says it was
-- imported (its stack takes over what is there on its first run, and never gets a starter page)
-- and whether it is billed elsewhere (never suspended for billing); the import row keeps which
-- account it took, on whose command, and whether its first converge has finished: one still
-- open is finished by the next run of the same import.
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS imported_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS billed_externally boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS account_imports (
    subscription_id  bigint PRIMARY KEY REFERENCES subscriptions(id),
    server_id        integer NOT NULL REFERENCES servers(id),
    cpanel_username  text NOT NULL,
    billing          text NOT NULL,           -- external | stripe:<subscription id>
    command          text NOT NULL,           -- the operator's command: the proof of ownership
    operator         text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (server_id, cpanel_username)
);
