-- The digest of the desired state a successful `up` applied (sha256 over the spec's canonical
-- JSON, secrets included: the digest only, never the secrets): a converge whose spec has the same
-- digest, on a stack refreshed inside the drift window, has nothing to do (app/services/hosting/converge.py).
ALTER TABLE provisioning_runs ADD COLUMN IF NOT EXISTS spec_digest text;
