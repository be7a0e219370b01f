"""batchacct: batch-job accounting shared library (records, parsers, codec, Kafka and DB helpers)."""

__version__ = "0.1.0"
