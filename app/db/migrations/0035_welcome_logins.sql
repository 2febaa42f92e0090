-- The logins a subscription's first successful converge made (its stack's outputs, secrets
-- included), sealed with MPANEL_ENCRYPTION_KEY and kept only until the welcome email carrying
-- them is sent: the email need not ask the Pulumi CLI to read the stack's secrets again.
-- Not in the welcome job's arguments: workers log those.
CREATE TABLE welcome_logins (
    subscription_id bigint PRIMARY KEY REFERENCES subscriptions(id) ON DELETE CASCADE,
    sealed bytea NOT NULL,
    made_at timestamptz NOT NULL DEFAULT now()
);
