-- Draining a server can move its accounts away at a pace (issue 12): this many moves requested
-- per hour by the drain sweep; NULL: draining only stops new placements.
ALTER TABLE servers ADD COLUMN IF NOT EXISTS drain_moves_per_hour integer CHECK (drain_moves_per_hour > 0);
