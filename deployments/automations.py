"""Create (or replace) the automations of ``deployments/automations.yaml`` on the Prefect server.

Each entry names its deployment as ``<flow>/<deployment>``; this script looks up the
deployment's id, fills it into every ``run-deployment`` action and creates the
automation, replacing one of the same name. Needs ``PREFECT_API_URL`` (see the Makefile).

    .venv/bin/python deployments/automations.py [--file deployments/automations.yaml]
                                                [--deployment train/train] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

HERE = Path(__file__).resolve().parent


def load_specs(path: str | Path = HERE / "automations.yaml") -> list[dict[str, Any]]:
    data = yaml.safe_load(Path(path).read_text())
    return list(data.get("automations") or [])


def build(spec: dict[str, Any], deployment_id: UUID):
    """An ``AutomationCore`` from one spec, its run-deployment actions pointed at ``deployment_id``."""
    from prefect.events.schemas.automations import AutomationCore

    body = {k: v for k, v in spec.items() if k != "deployment"}
    actions = []
    for action in body.get("actions", []):
        action = dict(action)
        if action.get("type") == "run-deployment" and action.get("source", "selected") == "selected":
            action["deployment_id"] = str(deployment_id)
        actions.append(action)
    body["actions"] = actions
    return AutomationCore.model_validate(body)


def apply(spec: dict[str, Any], deployment: str | None = None, dry_run: bool = False) -> str:
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client

    name = deployment or spec["deployment"]
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(name)
    core = build(spec, dep.id)
    if dry_run:
        return core.model_dump_json(indent=2)
    try:
        Automation.read(name=core.name).delete()
    except ValueError:
        pass  # not there yet
    created = Automation(**core.model_dump()).create()
    return f"automation {created.name!r} ({created.id}) runs deployment {name} ({dep.id})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(HERE / "automations.yaml"))
    parser.add_argument("--deployment", help="override the retrain deployment (<flow>/<deployment>)")
    parser.add_argument("--dry-run", action="store_true", help="print the automation, create nothing")
    args = parser.parse_args(argv)
    for spec in load_specs(args.file):
        print(apply(spec, args.deployment, args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
