-- Issue 23 item 2: proof of control before mail and the web are routed for a domain we did not
-- register. An external or transfer order gets a token to publish as TXT _mpanel-verify.<domain>
-- (or the delegation must point at our nameservers); until then the mail core relays mail for
-- the domain out as for any foreign domain.
ALTER TABLE domains ADD COLUMN IF NOT EXISTS control_token text;
ALTER TABLE domains ADD COLUMN IF NOT EXISTS control_proven_at timestamptz;
ALTER TABLE domains ADD COLUMN IF NOT EXISTS control_proven_by text;      -- 'registered', 'delegation', 'txt', 'grandfathered'
ALTER TABLE domains ADD COLUMN IF NOT EXISTS control_checked_at timestamptz;
ALTER TABLE domains ADD COLUMN IF NOT EXISTS control_check_result text;   -- what the last check found, for the panel
ALTER TABLE domains ADD COLUMN IF NOT EXISTS control_claimed_at timestamptz; -- the real owner proved it: hold released
UPDATE domains SET control_token = md5(random()::text || clock_timestamp()::text || id::text)
 WHERE control_token IS NULL;
ALTER TABLE domains ALTER COLUMN control_token SET DEFAULT md5(random()::text || clock_timestamp()::text);
-- Domains routed before proof existed keep being routed (their mail must not stop overnight);
-- domains we register are ours to route.
UPDATE domains SET control_proven_at = now(), control_proven_by = CASE WHEN mode = 'new_registration'
       THEN 'registered' ELSE 'grandfathered' END
 WHERE control_proven_at IS NULL AND status <> 'released';
