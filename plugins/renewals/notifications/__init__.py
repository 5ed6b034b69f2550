"""Airflow notifiers of the pipeline (task callbacks): light to import, the DAG file imports them
at parse time; the providers are imported when a notification is sent."""
