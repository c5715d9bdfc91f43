-- the job queue of `crm-dedup worker` processes: a running job is leased to one worker, which renews the
-- lease while it works (heartbeat); a job whose lease ran out (its worker was killed) is taken again
ALTER TABLE jobs ADD COLUMN worker VARCHAR;            -- who holds the lease: host:pid:random
ALTER TABLE jobs ADD COLUMN lease_until TIMESTAMPTZ;   -- the job is free again after this
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN started_at TIMESTAMPTZ;
CREATE INDEX jobs_waiting ON jobs (status, created_at) WHERE status IN ('queued', 'running');

-- the turn of each account: workers take the next job of the account served least recently
CREATE TABLE job_turns (
    account_id  VARCHAR NOT NULL PRIMARY KEY,
    served_at   TIMESTAMPTZ NOT NULL
);
