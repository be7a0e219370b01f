"""Prometheus metrics of every batchacct service (namespace ``batchacct_``, base units in names).

Metric objects are created here once, at import, as prometheus-client expects; nothing is served
until a service calls :func:`serve_metrics`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from batchacct import __version__

BUILD_INFO = Gauge("batchacct_build_info", "Build information", ["version", "service"])

# Collectors
LINES_READ = Counter(
    "batchacct_collector_lines_read_total", "Lines read from input files", ["format"]
)
RECORDS_PRODUCED = Counter(
    "batchacct_collector_records_produced_total",
    "Records acknowledged by the broker",
    ["format", "kind"],
)
LINES_IGNORED = Counter(
    "batchacct_collector_lines_ignored_total",
    "Valid lines that are not finished jobs (other record types, blank lines)",
    ["format"],
)
LINES_REJECTED = Counter(
    "batchacct_collector_lines_rejected_total", "Lines quarantined, by reason", ["format", "reason"]
)
CHECKPOINT_LAG = Gauge(
    "batchacct_collector_checkpoint_lag_bytes",
    "Bytes present in input files but not yet checkpointed",
    ["format"],
)
FILES_TRACKED = Gauge(
    "batchacct_collector_files", "Files in the registry, by state", ["format", "state"]
)
SOURCE_ERRORS = Counter(
    "batchacct_collector_source_errors_total",
    "Runs of a source program (sacct) that failed; the same window is read again",
    ["format"],
)
FILES_QUARANTINED = Counter(
    "batchacct_collector_files_quarantined_total",
    "Whole files moved to quarantine/ (HTCondor history files that cannot be used), by reason",
    ["format", "reason"],
)
LAST_CHECKPOINT = Gauge(
    "batchacct_collector_last_checkpoint_timestamp_seconds",
    "When a checkpoint was last saved",
    ["format"],
)

# Joiner
JOINER_MESSAGES = Counter("batchacct_joiner_messages_total", "Messages consumed", ["topic"])
JOINER_BAD_MESSAGES = Counter(
    "batchacct_joiner_bad_messages_total",
    "Messages that could not be decoded (sent to dead letter)",
    ["topic"],
)
JOINER_BATCHES = Counter("batchacct_joiner_batches_total", "Batches committed")
JOIN_OUTCOMES = Counter(
    "batchacct_joiner_job_records_total",
    "Job records written, by outcome (grid, local, upgraded = local became grid, updated)",
    ["outcome"],
)
JOINER_UNMAPPED_GROUPS = Counter(
    "batchacct_joiner_unmapped_local_groups_total",
    "Local job records whose group/account is not in the VO map (VO defaults to the group)",
)
JOINER_WITHOUT_BENCHMARK = Counter(
    "batchacct_joiner_job_records_without_benchmark_total",
    "New job records without a benchmark (stored and joined, but not normalised or published)",
    ["site"],
)
JOINER_ACCOUNT_INVALID = Counter(
    "batchacct_joiner_job_records_account_invalid_total",
    "New job records whose account the site's account policy does not allow (stored and joined)",
    ["site"],
)
JOINER_RETRIES = Counter(
    "batchacct_joiner_transaction_retries_total",
    "Join transactions PostgreSQL aborted (deadlock or serialization failure, e.g. between two"
    " joiners updating the same summaries) and that were applied again",
)
JOINER_BATCH_SECONDS = Histogram(
    "batchacct_joiner_batch_duration_seconds",
    "Time from a batch's consumption to its commit",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
JOINER_LAST_COMMIT = Gauge(
    "batchacct_joiner_last_commit_timestamp_seconds", "When the joiner last committed offsets"
)

# Publisher
PUBLISHER_MESSAGES = Counter(
    "batchacct_publisher_messages_total",
    "APEL messages queued, by kind and destination (dirq, kafka)",
    ["kind", "destination"],
)
PUBLISHER_RECORDS = Counter(
    "batchacct_publisher_records_total", "Records in the APEL messages queued", ["kind"]
)
PUBLISHER_REJECTED = Counter(
    "batchacct_publisher_messages_rejected_total",
    "Messages the APEL server would reject: not queued, logged in the publication log",
    ["kind"],
)
PUBLISHER_REJECTED_RECORDS = Counter(
    "batchacct_publisher_records_rejected_total",
    "Records set aside because the APEL server would reject them",
    ["kind"],
)
PUBLISHER_WITHHELD_JOBS = Gauge(
    "batchacct_publisher_withheld_jobs",
    "Jobs without a benchmark that the last run did not send (they go out once they have one)",
)
PUBLISHER_RUNS = Counter(
    "batchacct_publisher_runs_total", "Publisher runs, by outcome", ["outcome"]
)
PUBLISHER_LAST_SUCCESS = Gauge(
    "batchacct_publisher_last_success_timestamp_seconds", "When a publisher run last succeeded"
)
PUBLISHER_RUN_SECONDS = Histogram(
    "batchacct_publisher_run_duration_seconds",
    "Duration of a publisher run",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

# API
API_REQUESTS = Counter(
    "batchacct_api_requests_total", "HTTP requests", ["method", "route", "status"]
)
API_LATENCY = Histogram(
    "batchacct_api_request_duration_seconds", "HTTP request latency", ["method", "route"]
)

# Benchmarks (the API counts them from the database when /metrics is scraped)
JOBS_WITHOUT_BENCHMARK = Gauge(
    "batchacct_jobs_without_benchmark",
    "Job records stored without a benchmark (no service level, not normalised), by site",
    ["site"],
)


def serve_metrics(port: int, service: str) -> None:
    BUILD_INFO.labels(version=__version__, service=service).set(1)
    if port:
        start_http_server(port)
