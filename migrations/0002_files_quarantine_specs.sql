-- Issue 3: the file registry as a site administrator reads it, quarantine retry, machine benchmarks.

-- Benchmark values of the execution machine (HTCondor MachineAttrApelSpecs0), kept for normalisation.
ALTER TABLE batch_events ADD COLUMN machine_specs jsonb;
ALTER TABLE job_records ADD COLUMN machine_specs jsonb;

-- The registry is filtered by site and format; the collector id "<format>:<site>:<machine>" holds
-- both, but as columns they can be indexed and shown.
ALTER TABLE collector_files ADD COLUMN source_format text;
ALTER TABLE collector_files ADD COLUMN site text;
UPDATE collector_files SET source_format = split_part(collector, ':', 1), site = split_part(collector, ':', 2);
ALTER TABLE collector_files ALTER COLUMN source_format SET NOT NULL;
ALTER TABLE collector_files ALTER COLUMN site SET NOT NULL;
-- Why a file was quarantined (a per-job history file that cannot be used).
ALTER TABLE collector_files ADD COLUMN detail text;
CREATE INDEX collector_files_by_site ON collector_files (site, state, last_seen);

-- What a retry needs to parse a stored entry again as its collector did: the batch host, and the
-- file's first line for formats whose meaning depends on it (a SLURM header).
ALTER TABLE quarantine ADD COLUMN machine_name text NOT NULL DEFAULT '';
ALTER TABLE quarantine ADD COLUMN file_context text;
ALTER TABLE quarantine ADD COLUMN retries integer NOT NULL DEFAULT 0;
ALTER TABLE quarantine ADD COLUMN last_retry_at timestamptz;
CREATE INDEX quarantine_by_site ON quarantine (site, received_at);
-- The history-directory collector asks which of the files it lists it has already read.
CREATE INDEX collector_files_by_path ON collector_files (collector, path);

-- Sources that are not files (sacct): how far they have been read.
CREATE TABLE collector_cursors (
    collector   text        PRIMARY KEY,
    position    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
