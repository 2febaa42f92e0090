-- Issue 23 item 2 (rest).
-- Checkout intents limited per email address and per client address: one row per (action,
-- who), its window starting at the first use in it, counted by a single INSERT ... ON CONFLICT
-- (app/db/customers/action_counts.py), as customer_action_counts is for a logged-in customer.
CREATE TABLE IF NOT EXISTS keyed_action_counts (
    action        text NOT NULL,          -- checkout_email, checkout_address
    key           text NOT NULL,          -- the email address (lower case) or the client address
    window_start  timestamptz NOT NULL,
    uses          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (action, key)
);
CREATE INDEX IF NOT EXISTS keyed_action_counts_window_idx ON keyed_action_counts (window_start);

-- The real owner of a domain held by an unverified order claims it by the same TXT proof,
-- with a token of the claim's own (app/services/domains/claims.py).
CREATE TABLE IF NOT EXISTS domain_claims (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL,
    token          text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text),
    created_at     timestamptz NOT NULL DEFAULT now(),
    checked_at     timestamptz,
    check_result   text,
    proven_at      timestamptz,
    domain_id      bigint REFERENCES domains(id)   -- the holding order's domain it released
);
CREATE INDEX IF NOT EXISTS domain_claims_name_idx ON domain_claims (name);

-- A domain its owner claimed no longer holds the name (the owner can order it), though its
-- order keeps its rows and its stack (mail unroutable, nothing destroyed) for the operators.
DROP INDEX IF EXISTS domains_name_live_key;
CREATE UNIQUE INDEX domains_name_live_key ON domains (name)
 WHERE status <> 'released' AND control_claimed_at IS NULL;
DROP INDEX IF EXISTS domains_name_reversed_live;
CREATE INDEX domains_name_reversed_live ON domains (reverse(name) text_pattern_ops)
 WHERE status <> 'released' AND control_claimed_at IS NULL;
