"""Every executor and provider entry point the deployment names imports with the locked packages, so
a re-lock that breaks one fails here at once, not in a worker at start (as celery 5.7.0 did: the celery
provider imports ``retry`` from celery.backends.database, which 5.7.0 removed).

What the deployment names: the executor of docker-compose.yaml and of the Celery demo, the Celery
app of the worker's health check, the workers' result backend and broker, and every provider in
requirements.in with the hooks, connection types, operators, sensors, triggers, notifications,
decorators, dialects, executors and CLI commands its provider info declares."""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points

import pytest
import yaml

from devenv import celery_demo
from renewals.config import PROJECT_ROOT

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())
COMPOSE_ENV = COMPOSE["x-airflow-common"]["environment"]
REQUIREMENTS_IN = (PROJECT_ROOT / "requirements.in").read_text()
REQUIRED_PROVIDERS = re.findall(r"^(apache-airflow-providers-[a-z0-9-]+)", REQUIREMENTS_IN, re.MULTILINE)
# provider info sections whose entries are modules or "module.Name" paths of the provider itself
# (transfers are left out: they reach into other providers, which are optional)
MODULE_SECTIONS = ("hooks", "operators", "sensors", "triggers")
CLASS_SECTIONS = ("executors", "notifications", "cli")


def load(path: str) -> object:
    """The module ``path``, or the attribute its last part names in the module before it."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as error:
        module, _, name = path.rpartition(".")
        if error.name != path or not module:
            raise
        return getattr(importlib.import_module(module), name)


def provider_infos() -> dict[str, dict]:
    infos = (entry_point.load()() for entry_point in entry_points(group="apache_airflow_provider"))
    return {info["package-name"]: info for info in infos}


def declared_paths(info: dict) -> list[str]:
    entries = [entry for section in MODULE_SECTIONS for entry in info.get(section, [])]
    paths = [module for entry in entries for module in entry["python-modules"]]
    paths += [path for section in CLASS_SECTIONS for path in info.get(section, [])]
    paths += [entry["hook-class-name"] for entry in info.get("connection-types", [])]
    paths += [entry["class-name"] for entry in info.get("task-decorators", [])]
    paths += [entry["dialect-class-name"] for entry in info.get("dialects", [])]
    return paths


def test_requirements_in_names_the_providers_the_pipeline_uses():
    assert {
        "apache-airflow-providers-celery",
        "apache-airflow-providers-postgres",
        "apache-airflow-providers-smtp",
        "apache-airflow-providers-slack",
        "apache-airflow-providers-standard",
        "apache-airflow-providers-common-sql",
        "apache-airflow-providers-http",  # the webhook and HubSpot sync targets
        "apache-airflow-providers-github",  # the GitHub sync target
    } <= set(REQUIRED_PROVIDERS)


@pytest.mark.parametrize("provider", REQUIRED_PROVIDERS)
def test_every_entry_point_of_a_required_provider_imports(provider: str):
    info = provider_infos().get(provider)
    assert info is not None, f"{provider} is in requirements.in but not installed"
    if provider == "apache-airflow-providers-celery":
        # the CeleryKubernetesExecutor needs the cncf.kubernetes provider, which the deployment does not use
        info = {**info, "executors": [path for path in info["executors"] if "kubernetes" not in path]}
    paths = declared_paths(info)
    assert paths, f"{provider} declares no entry point"
    for path in paths:
        assert load(path) is not None, path


@pytest.mark.parametrize("name", sorted({COMPOSE_ENV["AIRFLOW__CORE__EXECUTOR"], celery_demo.EXECUTOR}))
def test_the_executors_the_deployment_names_load(name: str):
    from airflow.executors.executor_loader import ExecutorLoader
    from airflow.executors.executor_utils import ExecutorName

    executor, _source = ExecutorLoader.import_executor_cls(ExecutorName(ExecutorLoader.executors.get(name, name)))
    assert executor.__name__ == name.rpartition(".")[2]


def test_the_worker_health_check_app_and_its_result_backend_and_broker_load():
    from celery import Celery
    from celery.app.backends import by_url

    worker = COMPOSE["services"]["airflow-worker"]
    app_path = re.search(r"--app (\S+)", " ".join(worker["healthcheck"]["test"])).group(1)
    app = load(app_path)
    assert isinstance(app, Celery)
    # the backend and transport classes of the URLs docker-compose gives the workers
    backend, _url = by_url(COMPOSE_ENV["AIRFLOW__CELERY__RESULT_BACKEND"], app.loader)
    assert backend.__name__ == "DatabaseBackend"
    transport = app.connection_for_write(COMPOSE_ENV["AIRFLOW__CELERY__BROKER_URL"]).transport
    assert transport.driver_type == "redis" and transport.driver_version()  # the redis client is installed
