-- The address WHM gave the account (the zone's A records follow it), recorded by each
-- successful converge; the servers row's address is only the fallback before the first.
ALTER TABLE websites ADD COLUMN IF NOT EXISTS ip_address inet;

-- Each web server's SSH host key (an authorized_keys-style line, e.g. "ssh-ed25519 AAAA..."):
-- remote commands pin it instead of trusting whatever answers at the address.
ALTER TABLE servers ADD COLUMN IF NOT EXISTS ssh_host_key text;
