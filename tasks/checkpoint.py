"""The task that checkpoints the ledger and publishes it to the witnesses; and reading them back.

Witnesses, each outside the ledger database: the append-only JSON-lines file (its path from
settings) and the Prefect server, where each checkpoint is a markdown artifact under the key
`chidao-checkpoints` (the Prefect server keeps its own database). The signing key is read from
its file inside the task, so it never passes through flow or task parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict

from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    append_to_log,
    make_checkpoint,
    newest_of,
    parse,
    read_log,
)
from ledger.keyfiles import signing_key
from tasks.runtime import engine_for

ARTIFACT_KEY = "chidao-checkpoints"
FENCE = "```json"
log = logging.getLogger(__name__)


class CheckpointInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str
    key_file: Path
    log_file: Path
    at: dt.datetime
    to_prefect: bool = True


def markdown_of(checkpoint: Checkpoint) -> str:
    doc = checkpoint.document
    return (
        f"# chidao ledger {checkpoint.label()}\n\n"
        f"{doc['size']} events up to position {doc['position']}, Merkle root `{doc['root']}`, "
        f"{len(doc['streams'])} streams, key `{doc['key']}`.\n\n"
        f"{FENCE}\n{json.dumps(checkpoint.envelope(), ensure_ascii=False, sort_keys=True)}\n```\n"
    )


def from_markdown(markdown: str, where: str) -> Checkpoint:
    start = markdown.find(FENCE)
    end = markdown.find("```", start + len(FENCE))
    if start < 0 or end < 0:
        raise CheckpointError(f"{where}: no checkpoint in it")
    return parse(markdown[start + len(FENCE) : end].strip(), where)


async def publish_to_prefect(checkpoint: Checkpoint) -> None:
    await acreate_markdown_artifact(
        markdown=markdown_of(checkpoint),
        key=ARTIFACT_KEY,
        description=f"chidao ledger {checkpoint.label()}",
    )


async def read_from_prefect() -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint artifact on the Prefect server (PREFECT_API_URL)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    found: list[Checkpoint] = []
    problems: list[str] = []
    async with get_client() as client:
        offset = 0
        while True:
            page = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY])),
                limit=200,
                offset=offset,
            )
            for artifact in page:
                try:
                    found.append(
                        from_markdown(str(artifact.data), f"Prefect artifact {artifact.id}")
                    )
                except CheckpointError as e:
                    problems.append(str(e))
            if len(page) < 200:
                return found, problems
            offset += 200


@task(name="checkpoint", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
async def checkpoint_ledger(inp: CheckpointInput) -> dict[str, Any]:
    """Sign a checkpoint if anything was appended, and publish it to both witnesses."""
    engine = engine_for(inp.database_url)
    witnessed, _ = read_log(inp.log_file)
    checkpoint, made = make_checkpoint(
        engine,
        signing_key(inp.key_file, "CHIDAO_CHECKPOINT_KEY_FILE"),
        inp.at,
        witnessed=newest_of(witnessed),
    )
    if made:
        append_to_log(inp.log_file, checkpoint)
        if inp.to_prefect:
            await publish_to_prefect(checkpoint)
    return {"seq": checkpoint.seq, "size": checkpoint.size, "root": checkpoint.root, "new": made}
