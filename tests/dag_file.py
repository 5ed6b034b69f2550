"""The renewals_daily DAG as Airflow's DAG processor loads it, for tests that run or inspect it."""

from __future__ import annotations

from renewals.config import PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"


def renewals_dag():
    """Parse dags/ the way the dag-processor does; fails on any import error."""
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(DAGS))
    assert dagbag.import_errors == {}, dagbag.import_errors
    return dagbag.dags["renewals_daily"]  # as parsed: get_dag would ask the metadata database
