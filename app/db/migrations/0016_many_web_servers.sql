-- Many web servers (issue 12): each server is a row with its own WHM endpoint and credentials,
-- its publishing address, its capacity and its group; plans name the group their accounts go to.

-- How a group fills its servers: the least loaded first (spread the load), or the fullest
-- first (fill one server before opening the next).
CREATE TABLE IF NOT EXISTS server_groups (
    name           text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    fill_strategy  text NOT NULL DEFAULT 'least_loaded' CHECK (fill_strategy IN ('least_loaded', 'fill_first')),
    created_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO server_groups (name) VALUES ('default') ON CONFLICT (name) DO NOTHING;

ALTER TABLE servers ADD COLUMN IF NOT EXISTS name text;
-- NULL: the server the environment describes (CPANEL_WHM_URL / CPANEL_WHM_API_TOKEN, SSH_ADDRESS,
-- SITES_SSH_HOST_KEY_FILE, SITES_HOME_ROOT): the single-server install keeps working unchanged.
ALTER TABLE servers ADD COLUMN IF NOT EXISTS whm_url text;
ALTER TABLE servers ADD COLUMN IF NOT EXISTS whm_username text NOT NULL DEFAULT 'root';
ALTER TABLE servers ADD COLUMN IF NOT EXISTS whm_token_encrypted bytea;   -- Fernet, MPANEL_ENCRYPTION_KEY
ALTER TABLE servers ADD COLUMN IF NOT EXISTS ssh_address text;            -- host:port where sites are published
ALTER TABLE servers ADD COLUMN IF NOT EXISTS home_root text;              -- where account homes live (/home)
ALTER TABLE servers ADD COLUMN IF NOT EXISTS disk_capacity_mb integer CHECK (disk_capacity_mb > 0);  -- NULL: no limit
ALTER TABLE servers ADD COLUMN IF NOT EXISTS server_group text NOT NULL DEFAULT 'default'
    REFERENCES server_groups(name);
ALTER TABLE servers ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
-- The operators' name for it (NULL: its host name, as for the seed's server).
UPDATE servers SET name = hostname WHERE name IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS servers_name_key ON servers (name);
-- A server with its own WHM endpoint has its own token; one without uses the environment's.
ALTER TABLE servers ADD CONSTRAINT servers_whm_credentials CHECK ((whm_url IS NULL) = (whm_token_encrypted IS NULL));

-- 'retired' is the end of a server's life (nothing on it, nothing new); 'offline' stays for old rows.
ALTER TABLE servers DROP CONSTRAINT IF EXISTS servers_status_check;
ALTER TABLE servers ADD CONSTRAINT servers_status_check
    CHECK (status IN ('active', 'draining', 'retired', 'offline'));

ALTER TABLE plans ADD COLUMN IF NOT EXISTS server_group text NOT NULL DEFAULT 'default'
    REFERENCES server_groups(name);

-- A paid order no server of its group has room for waits here (and the operators are told);
-- the placement sweep places it when room appears.
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS waiting_for_capacity_since timestamptz;
CREATE INDEX IF NOT EXISTS subscriptions_waiting_for_capacity ON subscriptions (waiting_for_capacity_since)
    WHERE waiting_for_capacity_since IS NOT NULL;
CREATE INDEX IF NOT EXISTS subscriptions_server_idx ON subscriptions (server_id) WHERE server_id IS NOT NULL;
