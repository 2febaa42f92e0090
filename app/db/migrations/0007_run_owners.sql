-- Which process runs each converge, so a later run can tell a dead one (repair the stack)
-- from a live one (an operator's `mpanel stacks up` beside the worker: leave it alone).
ALTER TABLE provisioning_runs ADD COLUMN runner_host text;
ALTER TABLE provisioning_runs ADD COLUMN runner_pid integer;
