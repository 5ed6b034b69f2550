"""The ``renewals`` Airflow plugin: the renewals console in the Airflow UI.

The api-server mounts the console's FastAPI app at ``/renewals``; the UI lists it in the nav
("Renewals") and as a "Renewals" tab on every DAG run (the run page answers 404 with a message
for runs that are not renewals_daily runs). Its listener labels manual runs in the runs list
(``renewals.run_labels``). The app is built when the plugin is loaded, which
only the api-server does for FastAPI apps; schedulers and workers merely read this module.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from renewals import run_labels
from renewals.console.api import URL_PREFIX, create_app


class RenewalsPlugin(AirflowPlugin):
    name = "renewals"
    listeners = [run_labels]
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Renewals console"}]
    external_views = [
        {
            "name": "Renewals",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "renewals",
        },
        {
            "name": "Renewals",
            "href": f"{URL_PREFIX}/runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "renewals-run",
        },
    ]
