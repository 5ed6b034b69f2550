"""docker-compose.yaml's airflow-init step, run against this session's Airflow metadata database
(the file as data: tests/unit/test_compose.py)."""

from __future__ import annotations

import re
import subprocess


def test_init_makes_up_the_unsubscribe_secret_once_so_the_default_setup_runs(compose, tmp_path):
    """List-Unsubscribe is on by default and prepare_run refuses it without a signing secret: the
    init step makes one up (once) as an Airflow connection. Run here against this session's
    Airflow metadata database, with the airflow CLI as the container has it."""
    import json
    import os
    import sys
    from pathlib import Path

    from renewals.delivery.unsubscribe import MIN_SECRET_BYTES

    command = compose["services"]["airflow-init"]["command"][-1]
    step = re.search(r"# renewals-unsubscribe-secret.*# end renewals-unsubscribe-secret", command, re.S).group(0)
    step = step.replace("$$", "$")  # Compose's escape of a literal $
    bin_dir = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if key != "AIRFLOW_CONN_RENEWALS_UNSUBSCRIBE"}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"

    def secret() -> str:
        shown = subprocess.run(
            ["airflow", "connections", "get", "renewals_unsubscribe", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(shown.stdout)[0]["password"]

    try:
        first = subprocess.run(["bash", "-ec", step], env=env, capture_output=True, text=True, check=True)
        assert "Made up a secret" in first.stdout
        made = secret()
        assert len(made.encode()) >= MIN_SECRET_BYTES
        again = subprocess.run(["bash", "-ec", step], env=env, capture_output=True, text=True, check=True)
        assert again.stdout == "" and secret() == made  # kept, not made up again
    finally:
        subprocess.run(["airflow", "connections", "delete", "renewals_unsubscribe"], env=env, capture_output=True)
