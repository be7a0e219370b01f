"""batchacct_collector_blah service."""
