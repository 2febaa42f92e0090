-- (0013, continued) The queue job that ran each engine run, so the run of a dead worker hands
-- exactly its own job back to the queue; and the runs still running, found without a scan.
ALTER TABLE provisioning_runs ADD COLUMN IF NOT EXISTS job_id bigint;
CREATE INDEX IF NOT EXISTS provisioning_runs_running ON provisioning_runs (subscription_id) WHERE status = 'running';
