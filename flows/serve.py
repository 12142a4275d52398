"""The deployments `directive/directive`, `launch/launch` and `sweep/sweep`, served for one machine.

`python -m flows.serve` (what `chidao up` starts) registers the deployments with the Prefect
API in PREFECT_API_URL and runs every flow run scheduled for them, each in a subprocess,
polling every second so a run woken by an agency starts within about a second; the
sweeper runs on its interval schedule (every 5 minutes). For a work-pool setup the same
deployments are in `prefect.yaml` at the repository's root.

Run it from the repository's root (the parent of `flows/`): the deployments' entrypoints are
paths relative to the working directory, `flows/directive.py:directive` and
`flows/launch.py:launch`, as in `prefect.yaml`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from typing import Any

# Prefect reads these when it is imported; keep the runner offline unless told otherwise.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

TAGS = ["chidao"]
QUERY_SECONDS = 1.0

DIRECTIVE_DESCRIPTION = (
    "Reconcile one directive: rebuild its state from the ledger, perform what is due "
    "(notices, reminders, escalations, consolidation requests, cycle changes), deliver mail, "
    "publish its status table and schedule its next wake-up as a future run of this "
    "deployment. Runs are started by `chidao launch`, by an agency's call to the webhook "
    "(a run at the next whole second) and by the directive's own scheduled wake-ups."
)
LAUNCH_DESCRIPTION = (
    "Launch a directive from its definition: give `definition_path` (e.g. "
    "definitions/directives/qn-2810-ubnd-kgvx-2023.yaml) or paste the YAML in "
    "`definition_yaml`. Nothing is recorded unless the definition validates; a directive "
    "already launched is refused. A directive whose report dates have passed needs "
    "`catch_up`: `current` (open only the current cycle; earlier ones recorded as not "
    "tracked), `summary` (the same, and each agency gets one digest of what it owed in the "
    "earlier cycles) or `full` (every cycle since issuance, all its escalations at once); "
    "without it "
    "the run fails with the preview, recording nothing."
)


SWEEP_DESCRIPTION = (
    "Every few minutes: reconcile every active directive whose actions are overdue (its run "
    "failed or its process died), schedule wake-ups that are missing and cancel those a newer "
    "plan made obsolete, so no directive stalls."
)


async def build_deployments() -> list[Any]:
    """The deployments as `RunnerDeployment`s, named, tagged and described; the sweeper on
    an interval schedule."""
    from flows.directive import directive
    from flows.launch import launch
    from flows.sweep import SWEEP_INTERVAL, sweep

    return [
        await directive.ato_deployment(
            name="directive",
            tags=[*TAGS, "directive"],
            description=DIRECTIVE_DESCRIPTION,
        ),
        await launch.ato_deployment(
            name="launch",
            tags=[*TAGS, "launch"],
            description=LAUNCH_DESCRIPTION,
        ),
        await sweep.ato_deployment(
            name="sweep",
            tags=[*TAGS, "sweep"],
            description=SWEEP_DESCRIPTION,
            interval=SWEEP_INTERVAL,
        ),
    ]


async def serve_deployments(
    *, query_seconds: float = QUERY_SECONDS, limit: int | None = None
) -> None:
    """Register the deployments and run their flow runs until SIGTERM or Ctrl-C."""
    from prefect.runner import Runner

    runner = Runner(
        name="chidao",
        query_seconds=query_seconds,
        limit=limit,
        # Wake-ups are future runs; only the sweeper has a schedule of its own, kept on stop.
        pause_on_shutdown=False,
    )
    for deployment in await build_deployments():
        await runner.aadd_deployment(deployment)
    await runner.start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.serve", description="Serve the chidao deployments on this machine."
    )
    parser.add_argument(
        "--query-seconds",
        type=float,
        default=QUERY_SECONDS,
        help="how often to look for runs due (default 1 s)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many runs at once")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve_deployments(query_seconds=args.query_seconds, limit=args.limit))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
