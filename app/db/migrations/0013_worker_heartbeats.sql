-- Run liveness from heartbeats in PostgreSQL, not from (hostname, pid): containers share
-- hostnames and pids, and a dead host's runs must be recovered in minutes by any other worker.
-- Every process that runs engine operations keeps a row here (a random id) and refreshes
-- last_heartbeat from a thread; it also holds a session advisory lock on (28016, id) for as long
-- as its connection lives, so a process that died (its connection closed) is known at once.
CREATE TABLE IF NOT EXISTS workers (
    id              integer PRIMARY KEY,
    hostname        text NOT NULL,          -- for people reading the table; never decides anything
    pid             integer NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    last_heartbeat  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS workers_last_heartbeat ON workers (last_heartbeat);

-- Which worker runs each engine run (runner_host / runner_pid stay, for people).
ALTER TABLE provisioning_runs ADD COLUMN IF NOT EXISTS worker_id integer;

-- Emails: claimed ('sending') in one short transaction, handed to SMTP with no transaction open,
-- then marked 'sent'. A claim whose sender went quiet is retaken after a timeout.
ALTER TABLE emails_sent ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'sent'
    CHECK (state IN ('sending', 'sent'));
ALTER TABLE emails_sent ADD COLUMN IF NOT EXISTS claimed_at timestamptz;
ALTER TABLE emails_sent ALTER COLUMN sent_at DROP NOT NULL;
