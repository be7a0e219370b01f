"""batchacct_joiner service."""
