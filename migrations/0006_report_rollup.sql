-- The short report's daily rollup, maintained incrementally like the summaries (0003).
--
-- One row per site, day (of the end time, UTC), VO, section and value: every job counts once in
-- each of the sections user (local_user_id), group (local_user_group), vo, account, queue,
-- submit_host and machine (machine_name). A section's rows add up to every job of the day once,
-- so the day, week and month sections and the totals are sums of one section's rows. The VO is
-- part of every key, so a report filtered by VO reads the rollup too. A NULL is kept as E'\x1e'
-- (the key has to be unique; PostgreSQL 14 has no NULLS NOT DISTINCT).
-- Sums and counts only: no bounds, nothing ever goes stale. Keys left without jobs are deleted.
-- reports.py says which reports read it (report_rollup.answers).
CREATE TABLE report_rollup (
    section                 text    NOT NULL CHECK (section IN ('user', 'group', 'vo', 'account',
                                                                'queue', 'submit_host', 'machine')),
    site                    text    NOT NULL,
    day                     date    NOT NULL,
    vo                      text    NOT NULL,  -- E'\x1e': the job has none
    value                   text    NOT NULL,  -- E'\x1e': the job has none
    jobs                    bigint  NOT NULL,
    cpu_seconds             bigint  NOT NULL,
    wall_seconds            bigint  NOT NULL,
    normalised_cpu_seconds  bigint  NOT NULL,  -- HS06-seconds; jobs without a benchmark add 0
    jobs_without_benchmark  bigint  NOT NULL,
    core_wall_seconds       bigint  NOT NULL,  -- wall * greatest(coalesce(processors, 1), 1)
    PRIMARY KEY (section, site, day, vo, value)
);

-- The statement that adds the signed rows of ``changes`` (a query with a ``sign`` column, 1 or
-- -1, and job_records' columns) to the rollup; it returns the rows left with no jobs, which the
-- caller deletes. Built as text because a trigger's transition tables are visible only to
-- statements the trigger function itself runs. Jobs are first grouped by their whole key, so a
-- batch costs one upsert per distinct key, not one per job and section.
CREATE FUNCTION report_rollup_add_sql(changes text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT format($sql$
    WITH per_job_key AS (
        SELECT site, (end_time AT TIME ZONE 'UTC')::date AS day, coalesce(vo, E'\x1e') AS vo,
               local_user_id, local_user_group, account, queue, submit_host, machine_name,
               sum(sign) AS jobs,
               sum(sign * cpu_duration) AS cpu_seconds,
               sum(sign * wall_duration) AS wall_seconds,
               coalesce(sum(sign * normalised_cpu_duration), 0) AS normalised_cpu_seconds,
               coalesce(sum(sign) FILTER (WHERE normalised_cpu_duration IS NULL), 0)
                   AS jobs_without_benchmark,
               sum(sign * wall_duration * greatest(coalesce(processors, 1), 1))
                   AS core_wall_seconds
        FROM (%s) AS changes
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ), added AS (
        INSERT INTO report_rollup AS t (section, site, day, vo, value, jobs, cpu_seconds,
            wall_seconds, normalised_cpu_seconds, jobs_without_benchmark, core_wall_seconds)
        SELECT s.section, k.site, k.day, k.vo, coalesce(s.value, E'\x1e'), sum(k.jobs),
               sum(k.cpu_seconds), sum(k.wall_seconds), sum(k.normalised_cpu_seconds),
               sum(k.jobs_without_benchmark), sum(k.core_wall_seconds)
        FROM per_job_key k
        CROSS JOIN LATERAL (VALUES ('user', k.local_user_id), ('group', k.local_user_group),
                                   ('vo', k.vo), ('account', k.account), ('queue', k.queue),
                                   ('submit_host', k.submit_host), ('machine', k.machine_name))
            AS s (section, value)
        GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (section, site, day, vo, value) DO UPDATE SET
            jobs = t.jobs + excluded.jobs,
            cpu_seconds = t.cpu_seconds + excluded.cpu_seconds,
            wall_seconds = t.wall_seconds + excluded.wall_seconds,
            normalised_cpu_seconds = t.normalised_cpu_seconds + excluded.normalised_cpu_seconds,
            jobs_without_benchmark = t.jobs_without_benchmark + excluded.jobs_without_benchmark,
            core_wall_seconds = t.core_wall_seconds + excluded.core_wall_seconds
        RETURNING t.*
    )
    SELECT coalesce(array_agg(a::report_rollup) FILTER (WHERE a.jobs = 0), '{}') FROM added a
$sql$, changes)
$fn$;

-- Deletes the rows report_rollup_add_sql's statement left with no jobs.
CREATE FUNCTION report_rollup_prune(emptied report_rollup[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM report_rollup t USING unnest(emptied) e
    WHERE (t.section, t.site, t.day, t.vo, t.value) = (e.section, e.site, e.day, e.vo, e.value)
      AND t.jobs = 0
$$;

-- The job records stored before this migration.
DO $$
BEGIN
    EXECUTE report_rollup_add_sql('SELECT 1 AS sign, * FROM job_records');
END
$$;

-- Every change to the job records, whoever makes it: one pass per statement over its rows.
CREATE FUNCTION report_rollup_follow_job_records() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    emptied report_rollup[];
BEGIN
    EXECUTE report_rollup_add_sql(CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT 1 AS sign, * FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT -1 AS sign, * FROM old_rows'
        ELSE 'SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows'
    END) INTO emptied;
    IF cardinality(emptied) > 0 THEN
        PERFORM report_rollup_prune(emptied);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_records_report_rollup_insert AFTER INSERT ON job_records
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_rollup_follow_job_records();
CREATE TRIGGER job_records_report_rollup_update AFTER UPDATE ON job_records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_rollup_follow_job_records();
CREATE TRIGGER job_records_report_rollup_delete AFTER DELETE ON job_records
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_rollup_follow_job_records();

CREATE FUNCTION report_rollup_empty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_rollup;
    RETURN NULL;
END
$$;
CREATE TRIGGER job_records_report_rollup_truncate AFTER TRUNCATE ON job_records
    FOR EACH STATEMENT EXECUTE FUNCTION report_rollup_empty();
