"""Airflow operators of the renewals pipeline (the DAG file wires them; the domain stays plain)."""
