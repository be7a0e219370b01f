"""batchacct_collector_lsf service."""
