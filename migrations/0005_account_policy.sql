-- Account validation (LoadLeveler's llacctval for today's schedulers): which accounts (LSF
-- project, SLURM account, PBS/SGE account, HTCondor AccountingGroup) each user or group of a
-- site may charge. See batchacct.accounts.

-- One row per site that has a policy: the rule for users and groups the policy does not list.
-- A site without a row has no policy: its jobs' account_valid stays NULL.
CREATE TABLE account_policies (
    site          text        PRIMARY KEY,
    default_rule  text        NOT NULL CHECK (default_rule IN ('allow', 'deny')),
    source        text        NOT NULL,  -- yaml:<file> or api:<token name>
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The accounts a user or a group may charge: an exact name or a glob (* and ?).
CREATE TABLE account_rules (
    id            bigserial   PRIMARY KEY,
    site          text        NOT NULL REFERENCES account_policies (site) ON DELETE CASCADE,
    subject_kind  text        NOT NULL CHECK (subject_kind IN ('user', 'group')),
    subject       text        NOT NULL CHECK (subject <> ''),
    account       text        NOT NULL CHECK (account <> ''),
    -- The glob as a LIKE pattern; NULL when ``account`` is an exact name.
    account_like  text,
    source        text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site, subject_kind, subject, account)
);
-- The unique constraint's index is the join's probe: (site, kind, subject) per job.

-- NULL: no policy for the job's site, or the job has no account; false: not allowed; true: allowed.
ALTER TABLE job_records ADD COLUMN account_valid boolean;
CREATE INDEX job_records_account_invalid ON job_records (site, end_time)
    WHERE account_valid = false;
