-- Tokens for the operators' own automation (/ops/api/, issue 11): each belongs to a staff
-- account (its role still applies) and carries scopes ('read', 'actions'); only a hash is kept.
CREATE TABLE staff_api_tokens (
    token_hash    text PRIMARY KEY,
    staff_id      bigint NOT NULL REFERENCES staff_users(id),
    scopes        text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'actions']::text[] AND cardinality(scopes) > 0),
    label         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX staff_api_tokens_staff_idx ON staff_api_tokens (staff_id);
