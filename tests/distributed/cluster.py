"""The pieces of the distributed form as processes on loopback, for the loopback test.

Each piece is started the way the README's "Running at scale" says (the same commands and
settings), under `chidao up`'s Supervisor (its own session, logs in one folder, stopped in
reverse order). The test drives them; `Cluster.stop` kills every one of them and every
process they started (a flow run's process is in a session of its own), even on failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from chidao.cli.up_cmd import Child, Supervisor

REPO = Path(__file__).resolve().parents[2]
PREFECT = [sys.executable, "-m", "prefect"]
CHIDAO = [sys.executable, "-c", "from chidao.cli import main; raise SystemExit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_or_skip(host: str = "127.0.0.1", port: int = 6379) -> int:
    """An empty Redis database number on the local server (its own for this run), or skip."""
    import redis

    try:
        for db in range(15, 0, -1):
            client = redis.Redis(host=host, port=port, db=db, socket_connect_timeout=3)
            if client.dbsize() == 0:
                client.set("chidao-distributed-test", str(os.getpid()))
                return db
    except redis.RedisError as e:
        pytest.skip(f"Redis not reachable at {host}:{port}: {e}")
    pytest.skip(f"no empty Redis database at {host}:{port} for this test")


def flush_redis(db: int, host: str = "127.0.0.1", port: int = 6379) -> None:
    import redis

    with contextlib.suppress(redis.RedisError):
        redis.Redis(host=host, port=port, db=db).flushdb()


def postgres_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    from sqlalchemy.engine import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (read from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(what: str, check: Callable[[], bool], timeout: float, every: float = 0.5) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


class Cluster:
    """Started pieces by name; the processes each one started are killed with it."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self.supervisor = Supervisor(logs)
        self.pieces: dict[str, Child] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        child = self.supervisor.start(name, argv, {**self.env, **env}, cwd=REPO)
        self.pieces[name] = child
        return child

    def run(self, name: str, argv: list[str], env: dict[str, str], timeout: float = 120) -> None:
        """A command to its end (its output in the logs); fails if it fails."""
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            done = subprocess.run(
                argv, env={**self.env, **env}, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                timeout=timeout, check=False,
            )
        assert done.returncode == 0, f"{' '.join(argv)} failed; see {log}"

    def alive(self, name: str) -> bool:
        return self.pieces[name].alive()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> list[int]:
        """`sig` to the piece and every process it started, at once; their pids."""
        child = self.pieces[name]
        pids = [child.process.pid, *descendants(child.process.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if sig == signal.SIGKILL:
            child.process.wait(10)
        return pids

    def stop(self, name: str, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after `timeout`: a piece stopped by its operator."""
        child = self.pieces[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGTERM)
        try:
            child.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(name)

    def stop_all(self) -> None:
        below = [p for child in self.supervisor.children for p in descendants(child.process.pid)]
        self.supervisor.stop_all(timeout=10)
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
