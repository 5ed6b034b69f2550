"""Embedded local stack for the demo and the tests: PostgreSQL, a file-keeping SMTP server,
demo warehouse data."""
