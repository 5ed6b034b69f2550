"""The renewals console: one member's whole story, runs, unknown sends and quarantine, served by
the Airflow api-server through the ``renewals`` plugin (plugins/renewals_plugin.py).

``queries`` reads the ops schema (SQL in include/sql/console/), ``upcoming`` works out what comes
next for a member with the run's own playbooks and templates, ``api`` is the FastAPI app (JSON
API and the server-rendered pages).
"""
