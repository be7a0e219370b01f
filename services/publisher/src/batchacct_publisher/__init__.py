"""batchacct_publisher service."""
