"""Local and test tooling, not production code: the embedded PostgreSQL, the file-keeping and
fault-injecting SMTP server, the demo data and the in-process day runner. Nothing under plugins/
imports it, so no Airflow component loads it."""

import sys
from pathlib import Path

# The production package lives in plugins/ (Airflow puts it on sys.path); `python -m devenv` from a
# fresh shell, without PYTHONPATH=plugins, must find it too.
_PLUGINS = str(Path(__file__).resolve().parent.parent / "plugins")
if _PLUGINS not in sys.path:
    sys.path.insert(0, _PLUGINS)
