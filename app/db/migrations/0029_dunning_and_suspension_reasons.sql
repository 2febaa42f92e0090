-- Issue 26 items 1 and 4: who suspended a subscription and why (billing, staff with a typed reason,
-- WHM's own), so a payment lifts only a billing suspension; and what a failed renewal payment
-- was (amount, Stripe's reason, the link to pay), which the dunning notices quote.
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS suspended_by text
    CHECK (suspended_by IN ('billing', 'staff', 'whm'));
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS suspend_reason text;
-- {invoice_id, amount_cents, currency, reason, pay_url}; NULL once paid.
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS failed_payment jsonb;
-- Earlier suspensions were all ours for non-payment.
UPDATE subscriptions SET suspended_by = 'billing', suspend_reason = 'Billing: payment overdue'
 WHERE status = 'suspended' AND suspended_by IS NULL;
