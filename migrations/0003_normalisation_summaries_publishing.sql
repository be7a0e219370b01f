-- Issue 4: benchmarks and normalisation, usage summaries, and the publication log.

-- Benchmarks: time-versioned, one row per version. A changed value closes the open row
-- (valid_until = the new row's valid_from) and adds a new one; rows are never edited otherwise.
-- A scope is the site default, a CE (the job's submit host), a batch host (machine name), or an
-- execution host given by name or glob pattern (host_like is the pattern as SQL LIKE).
CREATE TABLE benchmarks (
    id                     bigserial   PRIMARY KEY,
    site                   text        NOT NULL,
    scope                  text        NOT NULL CHECK (scope IN ('site', 'ce', 'machine', 'exec_host')),
    scope_value            text        NOT NULL DEFAULT '',  -- '' for the site default
    host_like              text,                             -- exec_host scope only
    benchmark_type         text        NOT NULL CHECK (benchmark_type IN ('HEPscore23', 'HEPSPEC', 'si2k')),
    value                  double precision NOT NULL CHECK (value > 0),
    -- The batch system's per-job host factor (LSF CPU factor, HTCondor ApelScaling, SGE cputmult)
    -- that this benchmark was measured at: a job's benchmark is value * host_factor / reference.
    -- NULL: the default (1 for HTCondor and SGE, whose factors are relative already; LSF's
    -- factors are ignored unless a reference is given).
    host_factor_reference  double precision CHECK (host_factor_reference > 0),
    valid_from             timestamptz NOT NULL,
    valid_until            timestamptz,
    source                 text        NOT NULL,  -- "yaml:<file>", "api:<token>", ...
    created_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until IS NULL OR valid_until > valid_from),
    CHECK ((scope = 'site') = (scope_value = '')),
    CHECK ((scope = 'exec_host') = (host_like IS NOT NULL))
);
-- At most one open version per scope.
CREATE UNIQUE INDEX benchmarks_open_version ON benchmarks (site, scope, scope_value)
    WHERE valid_until IS NULL;
CREATE INDEX benchmarks_by_scope ON benchmarks (site, scope, scope_value, valid_from);

-- Jobs without a benchmark are kept, flagged by a NULL service level, and listed.
CREATE INDEX job_records_missing_benchmark ON job_records (site, end_time)
    WHERE service_level IS NULL;

-- What the publisher queued: one row per message (or per rejected message).
CREATE TABLE publications (
    id           bigserial   PRIMARY KEY,
    run_id       text        NOT NULL,   -- one publisher run or one `batchacct publish`
    queued_at    timestamptz NOT NULL DEFAULT now(),
    kind         text        NOT NULL,   -- job | summary | normalised-summary | sync
    header       text        NOT NULL,
    destination  text        NOT NULL,   -- dirq | kafka | dry-run
    message_id   text,                   -- the dirq element name, or topic/partition/offset
    records      integer     NOT NULL,
    bytes        integer     NOT NULL,
    sites        text[]      NOT NULL,
    months       text[]      NOT NULL,   -- YYYY-MM
    status       text        NOT NULL CHECK (status IN ('queued', 'rejected')),
    error        text
);
CREATE INDEX publications_by_time ON publications (queued_at);

-- Where `jobs --latest` publishing got to: the job records' update_seq.
CREATE TABLE publisher_cursors (
    name        text        PRIMARY KEY,
    update_seq  bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Usage summaries, maintained incrementally by whatever writes job records.
--
-- One row per APEL summary key (apel-facts 3.4): site, year, month (of the end time, UTC),
-- global_user_name, vo, vo_group, vo_role, submit_host, infrastructure_type, service_level_type,
-- service_level, node_count, processors. Any key may be NULL, so the key is also kept as a hash
-- (PostgreSQL 14 has no UNIQUE NULLS NOT DISTINCT).

CREATE FUNCTION summary_group_key(
    site text, year integer, month integer, global_user_name text, vo text, vo_group text,
    vo_role text, submit_host text, infrastructure_type text, service_level_type text,
    service_level double precision, node_count integer, processors integer
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5(concat_ws(E'\x1f', site, year::text, month::text,
        coalesce(global_user_name, E'\x1e'), coalesce(vo, E'\x1e'), coalesce(vo_group, E'\x1e'),
        coalesce(vo_role, E'\x1e'), coalesce(submit_host, E'\x1e'), infrastructure_type,
        coalesce(service_level_type, E'\x1e'), coalesce(service_level::text, E'\x1e'),
        coalesce(node_count::text, E'\x1e'), coalesce(processors::text, E'\x1e')))
$$;

CREATE TABLE summaries (
    group_key                 text        PRIMARY KEY,
    site                      text        NOT NULL,
    year                      integer     NOT NULL,
    month                     integer     NOT NULL CHECK (month BETWEEN 1 AND 12),
    global_user_name          text,
    vo                        text,
    vo_group                  text,
    vo_role                   text,
    submit_host               text,
    infrastructure_type       text        NOT NULL,
    service_level_type        text,
    service_level             double precision,
    node_count                integer,
    processors                integer,
    number_of_jobs            bigint      NOT NULL,
    wall_duration             bigint      NOT NULL,  -- seconds
    cpu_duration              bigint      NOT NULL,
    normalised_wall_duration  bigint      NOT NULL,  -- HS06-seconds (jobs without a benchmark add 0)
    normalised_cpu_duration   bigint      NOT NULL,
    earliest_end_time         timestamptz NOT NULL,
    latest_end_time           timestamptz NOT NULL,
    -- A record that held the earliest or latest end time left this key: the bounds are looked
    -- up again, for a whole site-month at once, before the row is read (summaries.refresh).
    bounds_stale              boolean     NOT NULL DEFAULT false,
    updated_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX summaries_by_month ON summaries (site, year, month);

-- The job records stored before this migration.
INSERT INTO summaries (group_key, site, year, month, global_user_name, vo, vo_group, vo_role,
    submit_host, infrastructure_type, service_level_type, service_level, node_count, processors,
    number_of_jobs, wall_duration, cpu_duration, normalised_wall_duration,
    normalised_cpu_duration, earliest_end_time, latest_end_time)
SELECT summary_group_key(site, year, month, global_user_name, vo, vo_group, vo_role, submit_host,
           infrastructure_type, service_level_type, service_level, node_count, processors),
       site, year, month, global_user_name, vo, vo_group, vo_role, submit_host,
       infrastructure_type, service_level_type, service_level, node_count, processors,
       count(*), sum(wall_duration), sum(cpu_duration),
       coalesce(sum(normalised_wall_duration), 0), coalesce(sum(normalised_cpu_duration), 0),
       min(end_time), max(end_time)
FROM (
    SELECT *, extract(year FROM end_time AT TIME ZONE 'UTC')::integer AS year,
           extract(month FROM end_time AT TIME ZONE 'UTC')::integer AS month
    FROM job_records
) j
GROUP BY site, year, month, global_user_name, vo, vo_group, vo_role, submit_host,
         infrastructure_type, service_level_type, service_level, node_count, processors;

-- The summaries follow every change to the job records, whoever makes it (the joiner, a
-- renormalisation, an administrator's SQL): one pass per statement over the rows it changed.
-- Sums and counts are added and subtracted; the earliest and latest end time can only widen on
-- an addition. Where a removed record held one of them, the row is marked bounds_stale, and
-- summaries.refresh() looks it up again, per site-month, before the row is read.
CREATE FUNCTION summaries_follow_job_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO summaries AS s (group_key, site, year, month, global_user_name, vo, vo_group,
            vo_role, submit_host, infrastructure_type, service_level_type, service_level,
            node_count, processors, number_of_jobs, wall_duration, cpu_duration,
            normalised_wall_duration, normalised_cpu_duration, earliest_end_time, latest_end_time)
        SELECT summary_group_key(site, year, month, global_user_name, vo, vo_group, vo_role,
                   submit_host, infrastructure_type, service_level_type, service_level,
                   node_count, processors),
               site, year, month, global_user_name, vo, vo_group, vo_role, submit_host,
               infrastructure_type, service_level_type, service_level, node_count, processors,
               count(*), sum(wall_duration), sum(cpu_duration),
               coalesce(sum(normalised_wall_duration), 0), coalesce(sum(normalised_cpu_duration), 0),
               min(end_time), max(end_time)
        FROM (
            SELECT *, extract(year FROM end_time AT TIME ZONE 'UTC')::integer AS year,
                   extract(month FROM end_time AT TIME ZONE 'UTC')::integer AS month
            FROM new_rows
        ) j
        GROUP BY site, year, month, global_user_name, vo, vo_group, vo_role, submit_host,
                 infrastructure_type, service_level_type, service_level, node_count, processors
        ON CONFLICT (group_key) DO UPDATE SET
            number_of_jobs = s.number_of_jobs + excluded.number_of_jobs,
            wall_duration = s.wall_duration + excluded.wall_duration,
            cpu_duration = s.cpu_duration + excluded.cpu_duration,
            normalised_wall_duration = s.normalised_wall_duration + excluded.normalised_wall_duration,
            normalised_cpu_duration = s.normalised_cpu_duration + excluded.normalised_cpu_duration,
            earliest_end_time = LEAST(s.earliest_end_time, excluded.earliest_end_time),
            latest_end_time = GREATEST(s.latest_end_time, excluded.latest_end_time),
            updated_at = now();
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE summaries s SET
            number_of_jobs = s.number_of_jobs - r.number_of_jobs,
            wall_duration = s.wall_duration - r.wall_duration,
            cpu_duration = s.cpu_duration - r.cpu_duration,
            normalised_wall_duration = s.normalised_wall_duration - r.normalised_wall_duration,
            normalised_cpu_duration = s.normalised_cpu_duration - r.normalised_cpu_duration,
            bounds_stale = s.bounds_stale OR r.first_end_time <= s.earliest_end_time
                           OR r.last_end_time >= s.latest_end_time,
            updated_at = now()
        FROM (
            SELECT summary_group_key(site, year, month, global_user_name, vo, vo_group, vo_role,
                       submit_host, infrastructure_type, service_level_type, service_level,
                       node_count, processors) AS group_key,
                   count(*) AS number_of_jobs, sum(wall_duration) AS wall_duration,
                   sum(cpu_duration) AS cpu_duration,
                   coalesce(sum(normalised_wall_duration), 0) AS normalised_wall_duration,
                   coalesce(sum(normalised_cpu_duration), 0) AS normalised_cpu_duration,
                   min(end_time) AS first_end_time, max(end_time) AS last_end_time
            FROM (
                SELECT *, extract(year FROM end_time AT TIME ZONE 'UTC')::integer AS year,
                       extract(month FROM end_time AT TIME ZONE 'UTC')::integer AS month
                FROM old_rows
            ) j
            GROUP BY site, year, month, global_user_name, vo, vo_group, vo_role, submit_host,
                     infrastructure_type, service_level_type, service_level, node_count, processors
        ) r
        WHERE s.group_key = r.group_key;
        DELETE FROM summaries s
        WHERE s.number_of_jobs = 0 AND s.group_key IN (
            SELECT summary_group_key(site, extract(year FROM end_time AT TIME ZONE 'UTC')::integer,
                       extract(month FROM end_time AT TIME ZONE 'UTC')::integer, global_user_name,
                       vo, vo_group, vo_role, submit_host, infrastructure_type, service_level_type,
                       service_level, node_count, processors)
            FROM old_rows);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_records_summaries_insert AFTER INSERT ON job_records
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION summaries_follow_job_records();
CREATE TRIGGER job_records_summaries_update AFTER UPDATE ON job_records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION summaries_follow_job_records();
CREATE TRIGGER job_records_summaries_delete AFTER DELETE ON job_records
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION summaries_follow_job_records();

CREATE FUNCTION summaries_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM summaries;
    RETURN NULL;
END
$$;
CREATE TRIGGER job_records_summaries_truncate AFTER TRUNCATE ON job_records
    FOR EACH STATEMENT EXECUTE FUNCTION summaries_empty();
