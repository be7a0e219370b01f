"""batchacct_api service."""
