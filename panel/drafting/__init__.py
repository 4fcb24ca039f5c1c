"""Drafting a panel: the run context, personas, prompts, model calls, retries, quality reads."""
