"""Delivery: rendering messages from templates, handing them to SMTP, and the per-shard loop
that claims, re-checks, sends and records each touchpoint exactly once."""
