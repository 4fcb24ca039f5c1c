"""Batch runs: queues drafted in parallel, and provider batch APIs (submit, collect)."""
