"""docker-compose.yaml: well formed, the services of Airflow's official CeleryExecutor setup plus
the mail catcher and the demo warehouse, and everything it mounts or builds from exists here.

Docker cannot run in every test environment, so the file is checked as data (PyYAML resolves its
anchors and merge keys as Compose does); where the docker CLI is installed, ``docker compose config``
validates it as well."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from renewals.config import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "volumes",
    "user",
    "depends_on",
    "ports",
    "expose",
    "healthcheck",
    "restart",
    "profiles",
}


def test_the_file_has_only_compose_top_level_keys(compose):
    assert set(compose) - {"services", "volumes", "networks", "configs", "secrets", "name"} == {
        key for key in compose if key.startswith("x-")
    }


def test_it_has_the_official_celery_setup_plus_mail_and_warehouse(compose):
    services = compose["services"]
    assert {*AIRFLOW_SERVICES, "airflow-init", "postgres", "redis", "mailcatcher", "warehouse"} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert (
            environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
            and "@redis:" in (environment["AIRFLOW__CELERY__BROKER_URL"])
        )
        assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080/")
        # the pipeline's connections point at the compose services
        assert "@warehouse:5432/" in environment["AIRFLOW_CONN_RENEWALS_WAREHOUSE"]
        assert "@postgres:5432/" in environment["AIRFLOW_CONN_RENEWALS_OPS"]
        assert '"host": "mailcatcher"' in environment["AIRFLOW_CONN_RENEWALS_SMTP"]
        assert "RENEWALS_SHARDS" in environment


def test_every_service_is_well_formed(compose):
    services = compose["services"]
    for name, service in services.items():
        assert isinstance(service, dict), name
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/", "$")):
                assert source in (compose.get("volumes") or {}), (name, source)


def _bind_sources(compose: dict) -> set[str]:
    sources = set()
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                sources.add(source)
    return sources


def test_what_it_mounts_and_builds_exists(compose):
    sources = _bind_sources(compose)
    assert {"./dags", "./plugins", "./include"} <= sources
    for source in sources:
        assert (PROJECT_ROOT / source).exists(), source
    for service in compose["services"].values():
        if "build" in service:
            context = PROJECT_ROOT / service["build"]["context"]
            dockerfile = context / service["build"]["dockerfile"]
            assert dockerfile.is_file()
            for copied in re.findall(r"^COPY\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE):
                assert (context / copied).exists(), copied


def test_the_image_is_the_pinned_airflow_with_the_pinned_requirements():
    dockerfile = (PROJECT_ROOT / "docker" / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (PROJECT_ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned is not None
    assert f"FROM apache/airflow:{pinned.group(1)}-python3.11" in dockerfile
    # The image installs the runtime set only, constrained by the lock; test tools stay out of it.
    assert "-r /tmp/requirements.in -c /tmp/requirements.txt" in dockerfile
    runtime = (PROJECT_ROOT / "requirements.in").read_text()
    assert not re.search(r"^(pytest|ruff|hypothesis|pgserver|aiosmtpd)\b", runtime, re.MULTILINE)


def _compose_cli() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _compose_cli(), reason="no docker compose CLI here")
def test_docker_compose_accepts_it():
    subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"], check=True, cwd=PROJECT_ROOT)


def test_plugins_ship_no_local_or_test_tooling():
    """plugins/ is loaded by every Airflow component (and mounted into the containers): it must not
    import the local stack or a development-only package."""
    dev_only = re.compile(
        r"^\s*(from|import)\s+(devenv|tests|bench|aiosmtpd|pgserver|pytest|hypothesis|pandas|openpyxl)\b", re.M
    )
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "plugins").rglob("*.py")
        if dev_only.search(path.read_text())
    ]
    assert offenders == []
