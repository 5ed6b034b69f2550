"""Renewal orchestration: the domain (dates, gates, playbooks, delivery, storage) as plain Python.

The Airflow wiring lives in ``dags/``; nothing here imports Airflow except ``renewals.airflow``.
"""
