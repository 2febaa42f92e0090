-- A checkout the customer never paid (Stripe closed its session, or they started over):
-- nothing was built and its domain is free again; the login stays so they can come back.
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_status_check;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_status_check CHECK (status IN (
    'pending_payment', 'abandoned', 'active', 'past_due', 'suspended', 'canceled', 'terminated'));
