-- Issue 23 item 3: a stored customer record the zone would refuse is left out of the zone (not
-- published) with the reason, so the rest of the stack still converges; cleared when it passes.
ALTER TABLE dns_records ADD COLUMN IF NOT EXISTS quarantined_reason text;
ALTER TABLE dns_records ADD COLUMN IF NOT EXISTS quarantined_at timestamptz;
