-- batchacct initial schema. Times are timestamptz (UTC), durations whole seconds, memory KiB.

CREATE TABLE batch_events (
    site                        text        NOT NULL,
    local_job_id                text        NOT NULL,
    end_time                    timestamptz NOT NULL,
    machine_name                text        NOT NULL,
    start_time                  timestamptz NOT NULL,
    wall_duration               bigint      NOT NULL,
    cpu_duration                bigint      NOT NULL,
    local_user_id               text,
    local_user_group            text,
    queue                       text,
    account                     text,
    submit_time                 timestamptz,
    processors                  integer,
    node_count                  integer,
    exec_hosts                  text[]      NOT NULL DEFAULT '{}',
    memory_real                 bigint,
    memory_virtual              bigint,
    exit_status                 integer,
    from_host                   text,
    infrastructure_description  text,
    host_factor                 double precision,
    source_format               text        NOT NULL,
    source_file                 text        NOT NULL,
    source_line                 integer     NOT NULL,
    received_at                 timestamptz NOT NULL DEFAULT now(),
    -- The primary key leads with (site, local_job_id): the join looks events up by exactly that.
    PRIMARY KEY (site, local_job_id, end_time, machine_name)
);

CREATE TABLE ce_events (
    site              text        NOT NULL,
    lrms_id           text        NOT NULL,
    "timestamp"       timestamptz NOT NULL,
    submit_host       text        NOT NULL DEFAULT '',
    global_user_name  text,
    fqan              text,
    fqans             text[]      NOT NULL DEFAULT '{}',
    vo                text,
    vo_group          text,
    vo_role           text,
    grid_job_id       text,
    local_user        text,
    source_format     text        NOT NULL,
    source_file       text        NOT NULL,
    source_line       integer     NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    -- Set once a job record uses this CE event.
    consumed          boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (site, lrms_id, "timestamp", submit_host)
);

CREATE TABLE job_records (
    site                        text        NOT NULL,
    local_job_id                text        NOT NULL,
    end_time                    timestamptz NOT NULL,
    machine_name                text        NOT NULL,
    submit_host                 text,
    queue                       text,
    local_user_id               text,
    local_user_group            text,
    global_user_name            text,
    fqan                        text,
    fqans                       text[]      NOT NULL DEFAULT '{}',
    vo                          text,
    vo_group                    text,
    vo_role                     text,
    wall_duration               bigint      NOT NULL,
    cpu_duration                bigint      NOT NULL,
    processors                  integer,
    node_count                  integer,
    start_time                  timestamptz NOT NULL,
    infrastructure_description  text,
    infrastructure_type         text        NOT NULL CHECK (infrastructure_type IN ('grid', 'local')),
    memory_real                 bigint,
    memory_virtual              bigint,
    service_level_type          text,
    service_level               double precision,
    normalised_wall_duration    bigint,
    normalised_cpu_duration     bigint,
    exec_hosts                  text[]      NOT NULL DEFAULT '{}',
    account                     text,
    exit_status                 integer,
    submit_time                 timestamptz,
    from_host                   text,
    grid_job_id                 text,
    host_factor                 double precision,
    -- The CE event this record was joined with (NULL for local jobs).
    ce_timestamp                timestamptz,
    source_format               text        NOT NULL,
    source_file                 text        NOT NULL,
    source_line                 integer     NOT NULL,
    -- Monotonic cursor for "what changed since": every insert or update takes a new value.
    update_seq                  bigint      NOT NULL,
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, local_job_id, end_time, machine_name)
);

CREATE SEQUENCE job_records_update_seq AS bigint;
ALTER TABLE job_records ALTER COLUMN update_seq SET DEFAULT nextval('job_records_update_seq');

CREATE INDEX job_records_end_time ON job_records (end_time, site, local_job_id, machine_name);
CREATE INDEX job_records_by_update_seq ON job_records (update_seq);

-- Every file a collector has seen: its identity, how far it was read, and what it gave.
CREATE TABLE collector_files (
    collector        text        NOT NULL,  -- "<format>:<site>:<machine name>"
    file_id          text        NOT NULL,  -- hash of the file's first line: survives rename and compression
    path             text        NOT NULL,
    inode            bigint,
    device           bigint,
    compression      text        NOT NULL DEFAULT 'none',
    "offset"         bigint      NOT NULL DEFAULT 0,  -- bytes of (decompressed) content consumed
    size             bigint      NOT NULL DEFAULT 0,  -- last size seen (decompressed bytes for compressed files once read)
    lines            bigint      NOT NULL DEFAULT 0,
    records          bigint      NOT NULL DEFAULT 0,
    rejected         bigint      NOT NULL DEFAULT 0,
    ignored          bigint      NOT NULL DEFAULT 0,
    state            text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'done', 'quarantined')),
    first_seen       timestamptz NOT NULL DEFAULT now(),
    last_seen        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collector, file_id)
);

CREATE TABLE quarantine (
    id             bigserial   PRIMARY KEY,
    source_format  text        NOT NULL,
    site           text        NOT NULL,
    file           text        NOT NULL,
    line           integer     NOT NULL,
    reason         text        NOT NULL,
    detail         text        NOT NULL,
    raw            text        NOT NULL,
    raw_sha1       text        NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_format, site, file, line, raw_sha1)
);
CREATE INDEX quarantine_reason ON quarantine (reason, received_at);

CREATE TABLE api_tokens (
    token_sha256  text        PRIMARY KEY,
    name          text        NOT NULL UNIQUE,
    scopes        text[]      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
