-- Stripe matching by our records (app/services/lifecycle.py, lifecycle_rules.py).
--
-- A Stripe event acts on an order only through the ids stored on it. What an event claimed
-- that those records do not support is kept here for a person and changes nothing else:
--   checkout_not_ours      a paid session naming an order (client_reference_id, metadata)
--                          that is not its checkout: a Payment Link, a session made elsewhere
--   checkout_mismatch      the order's own session paid at another amount, currency or price
--   subscription_not_ours  a Stripe subscription naming an order (metadata) it does not belong to
-- Rows outlive their event (retention deletes processed stripe_events), so no foreign key there.
CREATE TABLE billing_anomalies (
    id                bigserial PRIMARY KEY,
    stripe_event_id   text NOT NULL,
    event_type        text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('checkout_not_ours', 'checkout_mismatch',
                                                    'subscription_not_ours')),
    stripe_object_id  text,                               -- cs_..., sub_...
    subscription_id   bigint REFERENCES subscriptions(id),  -- the order named or paid for
    detail            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    resolved_at       timestamptz,                        -- set by the person who dealt with it
    UNIQUE NULLS NOT DISTINCT (stripe_event_id, kind, subscription_id)
);
CREATE INDEX billing_anomalies_open_idx ON billing_anomalies (subscription_id, id) WHERE resolved_at IS NULL;
