"""Local and test tooling, not production code: the embedded PostgreSQL, the file-keeping and
fault-injecting SMTP server, the demo data and the in-process day runner. Nothing under plugins/
imports it, so no Airflow component loads it."""
