-- Moving an account between web servers (issue 12): a desired-state change the worker carries
-- out (copy, verify, switch, remove the source); the source keeps serving until the switch.

-- Where the server's WHM restores cpmove archives from (cPanel: /home; the stand-in: its backups).
ALTER TABLE servers ADD COLUMN IF NOT EXISTS archive_dir text;

CREATE TABLE IF NOT EXISTS account_moves (
    id               bigserial PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES subscriptions(id),
    from_server_id   integer NOT NULL REFERENCES servers(id),
    to_server_id     integer NOT NULL REFERENCES servers(id) CHECK (to_server_id <> from_server_id),
    -- requested -> copied (restored and verified on the target) -> switched (the stack's account,
    -- certificate and DNS are the target's) -> done (the source removed); or failed, the source
    -- still serving.
    state            text NOT NULL DEFAULT 'requested'
                         CHECK (state IN ('requested', 'copied', 'switched', 'done', 'failed')),
    error            text,
    requested_at     timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- One move at a time per subscription.
CREATE UNIQUE INDEX IF NOT EXISTS account_moves_open ON account_moves (subscription_id)
    WHERE state NOT IN ('done', 'failed');
