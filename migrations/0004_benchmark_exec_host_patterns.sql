-- Execution-host benchmarks given by a pattern (a name with * or ?), apart from those given by
-- exact name: resolving a job's benchmark matches only these with LIKE, so its cost does not
-- grow with the number of hosts given a benchmark by name (benchmarks.resolve_sql).
CREATE INDEX benchmarks_exec_host_patterns ON benchmarks (site, valid_from)
    WHERE scope = 'exec_host' AND scope_value ~ '[*?]';
