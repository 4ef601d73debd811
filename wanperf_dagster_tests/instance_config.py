"""The parts of the project's `deploy/dagster.yaml` that tests' instances share with `make run`,
so what the tests record goes through the event log storage users run."""

from pathlib import Path

import yaml

DEPLOY_YAML = Path(__file__).resolve().parent.parent / "deploy" / "dagster.yaml"


def project_instance_overrides() -> dict:
    return {"event_log_storage": yaml.safe_load(DEPLOY_YAML.read_text())["event_log_storage"]}
