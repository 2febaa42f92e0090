-- Issue 23 item 6: per-customer limits on panel actions that spend an upstream's quota
-- (transfer-code requests, domain info reads, cPanel password resets...). One row per
-- (customer, action, window start), counted by a single INSERT ... ON CONFLICT statement.
CREATE TABLE IF NOT EXISTS customer_action_counts (
    customer_id   bigint NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    action        text NOT NULL,
    window_start  timestamptz NOT NULL,
    uses          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, action, window_start)
);
CREATE INDEX IF NOT EXISTS customer_action_counts_window_idx ON customer_action_counts (window_start);
