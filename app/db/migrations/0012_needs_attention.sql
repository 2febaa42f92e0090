-- Nothing is abandoned (architecture decision 10): a subscription whose converges keep
-- failing is retried for as long as it stays so, and after a few failures in a row it is
-- flagged for the operators (and they are emailed once per occurrence); a success clears it.
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS failures_in_a_row integer NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS needs_attention_since timestamptz;
CREATE INDEX IF NOT EXISTS subscriptions_needing_attention ON subscriptions (needs_attention_since)
    WHERE needs_attention_since IS NOT NULL;
CREATE INDEX IF NOT EXISTS stripe_events_unprocessed ON stripe_events (received_at) WHERE processed_at IS NULL;
