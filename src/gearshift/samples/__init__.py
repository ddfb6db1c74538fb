"""Synthetic data for demos, tests and benchmarks: a Claude Code transcript tree with exactly
known expected usage (:mod:`gearshift.samples.claude_logs`). Not part of ingest: nothing in the
product reads from here."""
