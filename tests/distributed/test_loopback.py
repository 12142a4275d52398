"""The distributed form on loopback: two Prefect API servers on one PostgreSQL database with
Redis messaging, two process workers on one pool (each talking to its own server), two
`chidao serve` on one PostgreSQL ledger, 60 directives driven by one shared simulated clock.

The script, in business time (the clock file every process reads, `flows.clock.SharedClock`):
30 copies of 2810 and 30 of 5185 (launched with catch-up `current`) are issued on 20/06/2023
and each gets its first run; on 21/06/2023 three agencies of each answer (Sở GD&ĐT
acknowledges and reports, Sở LĐTBXH and the Hội Khuyến học report) through both webhooks at
once, while API server 2 is stopped and started again; then the clock jumps to 01/12/2023,
past both deadlines (15/11 and 30/11), and each directive gets a run at that time, during
which worker A is killed with SIGKILL (it and its runs' processes) after a set number of
completed runs, with runs in flight. The sweeper then finds the runs the dead worker left
"Running", marks them Crashed and reconciles their directives.

Asserted: every directive's agencies stand as the script implies (the three on time, every
other overdue and escalated unless only requested), nothing due is left undone, each worker
ran at least a quarter of the runs (the worker name Prefect records on each run), `chidao
verify` passes, no Message-ID reached the SMTP sink twice except for directives whose run was
cut (the one place at-least-once mail allows), and every directive has its next wake-up as a
scheduled run at the real moment the shared clock reaches it, given that business time.

Skipped, saying so, where PostgreSQL or Redis does not answer. Logs: test-artifacts/distributed/.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from chidao.distributed import prefect_server_env
from tests.distributed.cluster import (
    CHIDAO,
    PREFECT,
    REPO,
    Cluster,
    answers,
    drop_database,
    flush_redis,
    free_port,
    postgres_database,
    redis_or_skip,
    wait_until,
)
from tests.flows.smtp import Inbox, SmtpServer
from tests.pg import postgres_url_or_skip

# Bounds, not expectations: a quiet 2-core machine needs a fraction of them; a loaded one
# (other work alongside) several times its quiet time.
PHASE_SECONDS = 1200
pytestmark = [pytest.mark.distributed, pytest.mark.postgres, pytest.mark.timeout(4 * PHASE_SECONDS)]

VN = dt.timezone(dt.timedelta(hours=7))
ISSUED = dt.datetime(2023, 6, 20, 10, 0, tzinfo=VN)
ANSWERED = dt.datetime(2023, 6, 21, 9, 0, tzinfo=VN)
PAST_DEADLINE = dt.datetime(2023, 12, 1, 9, 0, tzinfo=VN)
# Of each directive: 60 in all (fewer, for diagnosis only: CHIDAO_DISTRIBUTED_COPIES).
COPIES = int(os.environ.get("CHIDAO_DISTRIBUTED_COPIES", "30"))
ANSWERING = {"so-gddt": ("acknowledge", "report"), "so-ldtbxh": ("report",),
             "hoi-khuyen-hoc-tinh": ("report",)}
KILL_AFTER = min(20, COPIES * 2 // 3)  # completed runs of the deadline's round before A dies
WORKER_LIMIT = "4"  # runs at once per worker (two cores)
LOGS = REPO / "test-artifacts" / "distributed"
DEFINITIONS = REPO / "definitions" / "directives"


def _states(runs: list[Any]) -> Counter[str]:
    return Counter(r.state.type.value if r.state else "NONE" for r in runs)


class Prefect:
    """The test's own client calls, against one API server or the other."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls

    def call(self, index: int, fn: Any) -> Any:
        from prefect.client.orchestration import PrefectClient

        async def go() -> Any:
            async with PrefectClient(self.urls[index]) as client:
                return await fn(client)

        return asyncio.run(go())

    def runs(self, *, deployment: str = "directive", index: int = 0) -> list[Any]:
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        async def read(client: Any) -> list[Any]:
            found: list[Any] = []
            while True:
                page = await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
                    limit=200,
                    offset=len(found),
                )
                found.extend(page)
                if len(page) < 200:
                    return found

        return list(self.call(index, read))

    def start_runs(self, index: int, specs: list[tuple[str, dict[str, Any], str]]) -> list[str]:
        """One run of `directive/directive` per (directive, parameters, key), now."""

        async def create(client: Any) -> list[str]:
            deployment = await client.read_deployment_by_name("directive/directive")
            ids = []
            for directive_id, parameters, key in specs:
                run = await client.create_flow_run_from_deployment(
                    deployment.id,
                    parameters={"directive_id": directive_id, **parameters},
                    idempotency_key=key,
                    tags=[f"directive:{directive_id}", "distributed-test"],
                )
                ids.append(str(run.id))
            return ids

        return list(self.call(index, create))

    def run_sweep(self, index: int, parameters: dict[str, Any]) -> str:
        async def create(client: Any) -> str:
            deployment = await client.read_deployment_by_name("sweep/sweep")
            run = await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
            return str(run.id)

        return str(self.call(index, create))

    def read(self, index: int, run_ids: list[str]) -> list[Any]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        async def read(client: Any) -> list[Any]:
            return list(
                await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(i) for i in run_ids])),
                    limit=len(run_ids) + 1,
                )
            )

        return list(self.call(index, read))


def _worker(run: Any) -> str | None:
    return (run.labels or {}).get("prefect.worker.name")


@pytest.fixture
def places(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two fresh PostgreSQL databases (Prefect's, the ledger), an empty Redis database, a home."""
    admin = postgres_url_or_skip()
    redis_db = redis_or_skip()
    stamp = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
    prefect_db, ledger_db = f"chidao_dist_prefect_{stamp}", f"chidao_dist_ledger_{stamp}"
    made = []
    try:
        prefect_url = postgres_database(admin, prefect_db)
        made.append(prefect_db)
        ledger_url = postgres_database(admin, ledger_db)
        made.append(ledger_db)
        yield {"prefect_db": prefect_url, "ledger": ledger_url, "redis_db": redis_db,
               "home": tmp_path / "home"}
    finally:
        for name in made:
            drop_database(admin, name)
        flush_redis(redis_db)


def _copies() -> list[tuple[str, Any, str | None]]:
    """(id, resolved definition, catch-up) of the 60 directives: copies under their own ids."""
    from flows.launch import resolve_file

    made = []
    for source, short, policy in (
        ("qn-2810-ubnd-kgvx-2023.yaml", "2810", None),
        ("qn-5185-ubnd-kgvx-2021.yaml", "5185", "current"),
    ):
        resolved = resolve_file(DEFINITIONS / source)
        for n in range(COPIES):
            directive_id = f"dist-{short}-{n:02d}"
            definition = resolved.definition.model_copy(update={"id": directive_id})
            made.append((directive_id, resolved.model_copy(update={"definition": definition}), policy))
    return made


def test_two_servers_two_workers_two_webhooks(places: dict[str, Any]) -> None:
    from chidao.settings import as_fernet_key
    from chidao.webhook.auth import secret_key_bytes
    from chidao.webhook.secrets import SecretStore
    from definitions.calendar import default_calendar
    from flows.clock import SharedClock
    from flows.launch import record_issuance
    from ledger.db import ensure_schema, make_engine
    from ledger.directives import Directives
    from ledger.signatures import sign_headers
    from lifecycle import due_actions, next_wakeup
    from lifecycle.status import agency_rows

    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    home: Path = places["home"]
    home.mkdir(mode=0o700)
    clock = SharedClock(home / "clock.json")
    clock.set(ISSUED)
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode()
    inbox = Inbox()
    smtp = SmtpServer(inbox)
    api_ports = [free_port(), free_port()]
    api = [f"http://127.0.0.1:{p}/api" for p in api_ports]
    hook_ports = [free_port(), free_port()]
    hooks = [f"http://127.0.0.1:{p}" for p in hook_ports]
    chidao_env = {
        # what every worker's runs and every webhook share (README, Running at scale)
        "CHIDAO_HOME": str(home),
        "CHIDAO_DATABASE_URL": places["ledger"],
        "CHIDAO_SECRET_KEY": secret,
        "CHIDAO_CHECKPOINT_KEY_FILE": str(home / "checkpoint-ed25519.pem"),
        "CHIDAO_CHECKPOINT_LOG": str(home / "checkpoints.jsonl"),
        "CHIDAO_CLOCK_FILE": str(clock.path),
        "CHIDAO_SMTP_HOST": "127.0.0.1",
        "CHIDAO_SMTP_PORT": str(smtp.port),
        "CHIDAO_WEBHOOK_BASE_URL": hooks[0],
        "CHIDAO_MAIL_RETRY_BASE_SECONDS": "2",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "CHIDAO_REPO": str(REPO),
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CHIDAO_"))}
    cluster = Cluster(LOGS, {**base, **chidao_env})
    server_env = prefect_server_env(places["prefect_db"], "127.0.0.1", 6379, places["redis_db"])
    prefect = Prefect(api)
    engine = make_engine(places["ledger"])
    ensure_schema(engine)
    directives = Directives.over(engine)
    began = time.monotonic()
    marks: dict[str, float] = {}

    def mark(what: str) -> None:
        marks[what] = round(time.monotonic() - began, 1)

    def server(index: int) -> None:
        extra = [] if index == 0 else ["--no-services"]
        cluster.start(
            f"prefect-server-{index + 1}",
            [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(api_ports[index]),
             "--no-ui", *extra],
            {**server_env, "PREFECT_SERVER_API_HOST": "127.0.0.1",
             "PREFECT_SERVER_API_PORT": str(api_ports[index]),
             # the first server migrates the database; the others find it done
             "PREFECT_API_DATABASE_MIGRATE_ON_START": "true" if index == 0 else "false"},
        )
        wait_until(f"API server {index + 1}", lambda: answers(f"{api[index]}/health"), 120)

    try:
        smtp.__enter__()
        server(0)
        server(1)
        mark("servers up")
        # the pool and the deployments, as prefect.yaml declares them
        cluster.run("deploy", [*PREFECT, "work-pool", "create", "chidao", "--type", "process"],
                    {"PREFECT_API_URL": api[0]})
        cluster.run("deploy", [*PREFECT, "--no-prompt", "deploy", "--all"], {"PREFECT_API_URL": api[1]})
        for index, name in enumerate(("worker-a", "worker-b")):
            cluster.start(
                name,
                [*PREFECT, "worker", "start", "--pool", "chidao", "--type", "process",
                 "--name", name, "--limit", WORKER_LIMIT],
                {"PREFECT_API_URL": api[index], "PREFECT_WORKER_QUERY_SECONDS": "1",
                 "PREFECT_WORKER_PREFETCH_SECONDS": "2"},
            )
        for index in range(2):
            cluster.start(
                f"webhook-{index + 1}",
                [*CHIDAO, "serve", "--host", "127.0.0.1", "--port", str(hook_ports[index])],
                {"PREFECT_API_URL": api[index]},
            )
        for index in range(2):
            wait_until(f"webhook {index + 1}", lambda i=index: answers(f"{hooks[i]}/healthz"), 60)
        mark("pieces up")

        # --- issuance, 20/06/2023 -----------------------------------------------------------
        copies = _copies()
        ids = [c[0] for c in copies]
        for _, resolved, policy in copies:
            record_issuance(directives, resolved, ISSUED, policy, actor="operator:distributed-test")
        first = []
        for index in range(2):  # half through each server
            first += prefect.start_runs(
                index,
                [(d, {"at": ISSUED.isoformat(), "label": f"{d} · ban hành"}, f"{d}-launch")
                 for d in ids[index::2]],
            )

        def settled(run_ids: list[str]) -> bool:
            runs = prefect.read(0, run_ids)
            return all(r.state is not None and r.state.is_final() for r in runs)

        wait_until("the 60 issuance runs", lambda: settled(first), PHASE_SECONDS, every=2)
        assert all(r.state.is_completed() for r in prefect.read(0, first)), _states(prefect.read(0, first))
        mark("issued")

        # --- answers, 21/06/2023, through both webhooks at once; API server 2 stops -------
        clock.advance_to(ANSWERED)
        store = SecretStore(engine, as_fernet_key(secret))
        keys = {agency: secret_key_bytes(store.generate(agency)) for agency in ANSWERING}
        calls = [(agency, what) for agency, doings in ANSWERING.items() for what in doings]
        sent: Counter[int] = Counter()
        lock = threading.Lock()

        def answer(hook: int, d: str, agency: str, what: str) -> None:
            path = (f"/v1/directives/{d}/agencies/{agency}/acknowledge" if what == "acknowledge"
                    else f"/v1/directives/{d}/agencies/{agency}/cycles/2023/report")
            body = b"" if what == "acknowledge" else json.dumps(
                {"text": f"Báo cáo kết quả năm 2023 ({agency})."}, ensure_ascii=False).encode()
            for _attempt in range(5):
                headers = sign_headers("POST", path, "", body, keyid=f"{agency}:hmac",
                                       key=keys[agency], alg="hmac-sha256",
                                       idempotency_key=f"dist-{d}-{agency}-{what}")
                reply = httpx.post(hooks[hook] + path, content=body, headers=headers, timeout=60)
                if reply.status_code != 503:
                    break
                time.sleep(float(reply.headers.get("retry-after", "1")))  # the server's word
            assert reply.status_code in (200, 201), (path, reply.status_code, reply.text)
            with lock:
                sent[hook] += 1

        def burst(number: int) -> None:
            """A directive's answers one after another (one woken run, mostly), through the
            webhook of its number; other directives' bursts go on at once on both."""
            for agency, what in calls:
                answer(number % 2, ids[number], agency, what)

        half = len(ids) // 2
        answering = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(burst, range(half)))
            marks["answers/s, both webhooks (first half)"] = round(
                half * len(calls) / (time.monotonic() - answering), 1)
            cluster.stop("prefect-server-2")  # in the middle: webhook 2 and worker B lose it
            mark("API server 2 stopped")
            list(pool.map(burst, range(half, len(ids))))
        assert sent[0] > 0 and sent[1] > 0
        server(1)
        mark("API server 2 back")

        def quiet() -> bool:
            # nothing of the directives due now is left to run (wake-ups stay scheduled ahead)
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
            for run in prefect.runs():
                if run.state is None or run.state.is_final():
                    continue
                if run.state.is_scheduled() and (run.expected_start_time or soon) > soon:
                    continue
                return False
            return True

        wait_until("the runs the answers woke", quiet, PHASE_SECONDS, every=2)
        mark("answers reconciled")

        # --- 01/12/2023: both deadlines passed; worker A dies with runs in flight ---------
        clock.advance_to(PAST_DEADLINE)
        deadline_runs = []
        for index in range(2):
            deadline_runs += prefect.start_runs(
                index,
                [(d, {"at": PAST_DEADLINE.isoformat(), "label": f"{d} · quá hạn"}, f"{d}-deadline")
                 for d in ids[index::2]],
            )

        def kill_point() -> bool:
            runs = prefect.read(0, deadline_runs)
            done = sum(1 for r in runs if r.state is not None and r.state.is_completed())
            a_busy = [r for r in prefect.runs() if _worker(r) == "worker-a"
                      and r.state is not None and (r.state.is_running() or r.state.is_pending())]
            return done >= KILL_AFTER and bool(a_busy)

        wait_until(f"{KILL_AFTER} runs done and worker A busy", kill_point, PHASE_SECONDS, every=0.5)
        in_flight = {
            r.parameters["directive_id"]
            for r in prefect.runs()
            if r.state is not None and not r.state.is_final() and not r.state.is_scheduled()
        }
        killed = cluster.kill("worker-a")
        mark(f"worker A killed ({len(killed)} processes, {len(in_flight)} runs in flight)")

        def left_by_a(run: Any) -> bool:
            """Claimed by the dead worker (its name on the run, or no name for a while)."""
            if run.state is None or run.state.is_final() or run.state.is_scheduled():
                return False
            if _worker(run) == "worker-a":
                return True
            quiet_for = dt.datetime.now(dt.UTC).timestamp() - run.state.timestamp.timestamp()
            return _worker(run) is None and quiet_for > 30

        def b_done() -> bool:
            # the deadline's runs, and whatever else of the directives is due now
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
            return all(
                r.state is not None
                and (r.state.is_final() or left_by_a(r)
                     or (r.state.is_scheduled() and (r.expected_start_time or soon) > soon))
                for r in prefect.runs(index=1)
            )

        wait_until("worker B takes the rest", b_done, PHASE_SECONDS, every=2)
        mark("worker B done")
        left = [r for r in prefect.runs(index=1) if left_by_a(r)]
        assert left, "the kill left no run behind: it was not in the middle"
        sweep = prefect.run_sweep(1, {"grace_seconds": 0, "stale_seconds": 5})
        wait_until("the sweep", lambda: settled([sweep]), PHASE_SECONDS, every=2)
        swept = prefect.read(1, [sweep])[0]
        assert swept.state.is_completed(), swept.state
        after = {str(r.id): r for r in prefect.read(1, [str(r.id) for r in left])}
        for run in left:
            assert after[str(run.id)].state.is_crashed(), after[str(run.id)].state
        mark("swept")

        # --- what must hold --------------------------------------------------------------
        now = clock.now()
        calendar = default_calendar()
        wrong = []
        for d in ids:
            state = directives.state(d)
            for row in agency_rows(state, "2023", now):
                expected = "completed_on_time" if row.agency in ANSWERING else "overdue"
                if row.status != expected:
                    wrong.append(f"{d} {row.agency}: {row.status}, not {expected}")
                if expected == "overdue" and row.role != "requested" and row.escalation_level < 1:
                    wrong.append(f"{d} {row.agency}: overdue but never escalated")
            if due_actions(state, now, calendar):
                wrong.append(f"{d}: {len(due_actions(state, now, calendar))} actions left undone")
        assert not wrong, "\n".join(wrong[:30])

        every = [r for r in prefect.runs(index=0) if r.state is not None and r.state.is_completed()]
        by_worker = Counter(_worker(r) for r in every)
        total = sum(by_worker.values())
        assert by_worker["worker-a"] >= total / 4 and by_worker["worker-b"] >= total / 4, by_worker

        verify = subprocess.run(
            [*CHIDAO, "verify"], env={**cluster.env, "PREFECT_API_URL": api[0]}, cwd=REPO,
            capture_output=True, text=True, timeout=300, check=False,
        )
        (LOGS / "verify.log").write_text(verify.stdout + verify.stderr)
        assert verify.returncode == 0, verify.stdout + verify.stderr

        from sqlalchemy import select

        from ledger.tables import outbox

        with engine.connect() as conn:
            owner = dict(conn.execute(select(outbox.c.message_id, outbox.c.directive)).all())
        twice = {m: n for m, n in Counter(inbox.ids()).items() if n > 1}
        allowed = {m for m in twice if owner.get(m.strip("<>")) in in_flight
                   or owner.get(m) in in_flight}
        assert set(twice) == allowed and all(n == 2 for n in twice.values()), (twice, in_flight)

        # every directive has its next wake-up ahead, at the real moment the clock reaches it
        scheduled: dict[str, list[Any]] = {}
        for run in prefect.runs(index=1):
            if run.state is not None and run.state.is_scheduled():
                scheduled.setdefault(run.parameters.get("directive_id"), []).append(run)
        missing = []
        for d in ids:
            wake = next_wakeup(directives.state(d), clock.now(), calendar)
            assert wake is not None, d
            start = clock.wall_time(wake)
            if not any(
                abs((r.expected_start_time - start).total_seconds()) < 1
                and dt.datetime.fromisoformat(str(r.parameters.get("at"))) == wake
                for r in scheduled.get(d, [])
            ):
                missing.append(f"{d}: no scheduled run for {wake.isoformat()}")
        assert not missing, "\n".join(missing[:20])
        mark("checked")
        counts = {"runs": total, **{k or "?": v for k, v in by_worker.items()},
                  "mail": len(inbox.messages), "twice": len(twice), "answers": len(calls) * len(ids),
                  "run seconds (median)": sorted(r.total_run_time.total_seconds()
                                                 for r in every)[len(every) // 2]}
        (LOGS / "timeline.json").write_text(json.dumps({"marks": marks, "counts": counts}, indent=1))
        print(json.dumps({"marks": marks, "counts": counts}), file=sys.stderr)
    finally:
        (LOGS / "timeline.json").write_text(json.dumps({"marks": marks}, indent=1)) if not (
            LOGS / "timeline.json").exists() else None
        cluster.stop_all()
        smtp.__exit__(None, None, None)
        engine.dispose()
