-- Nothing owed stays silent (issue 28): what needs an operator and is not one subscription's
-- (a job `doing` past its deadline, a Stripe event unprocessed past its deadline, a periodic
-- task failing in a row) is listed here, raised once per occurrence (one open row per key)
-- and closed when the condition ends. The console's overview shows the open ones.
CREATE TABLE IF NOT EXISTS system_attention (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL,          -- what it is about, e.g. job:1028, event:evt_..., periodic:retry_stalled_jobs
    reason      text NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    cleared_at  timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS system_attention_open ON system_attention (key) WHERE cleared_at IS NULL;
