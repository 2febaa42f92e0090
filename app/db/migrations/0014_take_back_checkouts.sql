-- Termination with a way back through the public checkout (app/services/checkout.py).
--
-- A canceled order still retained is taken back by a new Stripe checkout session attached to
-- it. Each such checkout needs its own idempotency key (a retried request must return the same
-- session, a later attempt a new one): mpanel-checkout-<id>-<take_backs>. The counter is
-- raised before Stripe is called, so a crash between the two never reuses a key.
ALTER TABLE subscriptions ADD COLUMN take_backs integer NOT NULL DEFAULT 0;

-- Orders written by a checkout whose Stripe session was never recorded (the request died
-- between its two transactions): the sweep that abandons them looks for exactly these.
CREATE INDEX subscriptions_sessionless_idx ON subscriptions (created_at)
    WHERE status = 'pending_payment' AND stripe_checkout_session_id IS NULL;
