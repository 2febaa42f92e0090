-- Retention (app/services/retention.py) removes rows by age in small batches, oldest first;
-- these let each batch find its rows without scanning the table.
CREATE INDEX IF NOT EXISTS provisioning_events_at_idx ON provisioning_events (at);
CREATE INDEX IF NOT EXISTS stripe_events_processed_at_idx ON stripe_events (processed_at)
    WHERE processed_at IS NOT NULL;
