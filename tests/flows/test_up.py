"""`chidao up` starts the Prefect server, the two deployments and the webhook, and one SIGINT stops all.

`ChidaoUp` (also used by test_wake) runs `chidao up` as a subprocess with its own CHIDAO_HOME,
PREFECT_HOME and free ports, waits a bounded time for the UI URL, and on leaving kills
whatever is still running, the children of `up` included, even when the test failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
START_SECONDS = 60.0
STOP_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc), so none outlives the test."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class ChidaoUp:
    """`chidao up` in a subprocess; `with ChidaoUp(tmp_path) as up:` waits for its UI URL."""

    def __init__(
        self,
        folder: Path,
        *,
        extra_args: tuple[str, ...] = (),
        embedded_mail: bool = False,
        start_seconds: float = START_SECONDS,
    ) -> None:
        self.start_seconds = start_seconds
        self.port = free_port()
        self.webhook_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = f"http://127.0.0.1:{self.webhook_port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CHIDAO_"))},
            "CHIDAO_HOME": str(folder / "home"),
            # without any mail setting `up` runs its embedded mail room
            **({} if embedded_mail else {"CHIDAO_MAIL_DRY_RUN_DIR": str(folder / "mail")}),
            "PREFECT_HOME": str(folder / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        self.argv = [
            sys.executable,
            "-c",
            "from chidao.cli import main; raise SystemExit(main())",
            "up",
            "--port",
            str(self.port),
            "--webhook-port",
            str(self.webhook_port),
            *extra_args,
        ]
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None
        self.seen: set[int] = set()

    # the environment a `chidao` command needs to talk to this `up`
    def client_env(self) -> dict[str, str]:
        return {**self.env, "PREFECT_API_URL": self.api_url, "PREFECT_UI_URL": self.ui_url}

    def __enter__(self) -> ChidaoUp:
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.wait_for_line(self.ui_url, self.start_seconds)
            self.wait_for_line("running;", 10)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.seen = _descendants(self.process.pid)
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, text: str, timeout: float) -> str:
        for earlier in self.lines:
            if text in earlier:
                return earlier
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(
                    f"`chidao up` ended before printing {text!r}:\n{self.output()}"
                )
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} from `chidao up` within {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        """What `up` printed so far, and the end of each child's log."""
        with contextlib.suppress(queue.Empty):
            while (pending := self._queue.get(timeout=0.2)) is not None:
                self.lines.append(pending)
        logs = Path(self.env["CHIDAO_HOME"]) / "logs"
        tails = []
        if logs.is_dir():
            for log in sorted(logs.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-20:]
                tails.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(self.lines + tails)

    def interrupt(self, timeout: float = STOP_SECONDS) -> float:
        """SIGINT to `up` alone (as Ctrl-C would be); the seconds until it and its children ended."""
        assert self.process is not None
        self.seen |= _descendants(self.process.pid)
        started = time.monotonic()
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout)
        deadline = started + timeout
        while time.monotonic() < deadline and any(_alive(p) for p in self.seen):
            time.sleep(0.1)
        return time.monotonic() - started

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.seen |= _descendants(self.process.pid)
            with contextlib.suppress(Exception):
                self.interrupt()
        for pid in self.seen | {self.process.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


def read_deployments(api_url: str, names: list[str]) -> list[Any]:
    from prefect.client.orchestration import PrefectClient

    async def read() -> list[Any]:
        async with PrefectClient(api_url) as client:
            return [await client.read_deployment_by_name(name) for name in names]

    return asyncio.run(read())


def test_up_starts_everything_and_one_sigint_stops_it(tmp_path: Path) -> None:
    with ChidaoUp(tmp_path) as up:
        assert httpx.get(f"{up.api_url}/health", timeout=5).json() is True
        assert httpx.get(f"{up.webhook_url}/healthz", timeout=5).status_code == 200
        directive, launch, sweep = read_deployments(
            up.api_url, ["directive/directive", "launch/launch", "sweep/sweep"]
        )
        assert sweep.entrypoint == "flows/sweep.py:sweep"
        assert [s.schedule.interval.total_seconds() for s in sweep.schedules] == [300]
        assert directive.entrypoint == "flows/directive.py:directive"
        assert launch.entrypoint == "flows/launch.py:launch"
        assert "chidao" in directive.tags and directive.description
        assert "chidao" in launch.tags and launch.description
        assert up.wait_for_line("ledger:", 1).endswith(str(tmp_path / "home" / "chidao.db"))

        children = _descendants(up.process.pid) if up.process else set()
        assert len(children) >= 3, up.output()  # server, runner, webhook
        took = up.interrupt()
        assert up.process is not None and up.process.returncode == 0, up.output()
        assert not [p for p in up.seen if _alive(p)], f"still running after {took:.1f} s"
        assert took < STOP_SECONDS
        print(f"`chidao up` and {len(children)} processes stopped {took:.1f} s after SIGINT")


def test_up_stops_the_rest_when_a_child_dies(tmp_path: Path) -> None:
    with ChidaoUp(tmp_path) as up:
        assert up.process is not None
        webhook = next(
            pid
            for pid in _descendants(up.process.pid)
            if b"\x00serve\x00" in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        os.kill(webhook, signal.SIGKILL)
        up.process.wait(STOP_SECONDS)
        assert up.process.returncode == 1
        assert "webhook exited" in up.output()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in up.seen):
            time.sleep(0.1)
        assert not [p for p in up.seen if _alive(p)]


@pytest.mark.parametrize("which", ["--port", "--webhook-port"])
def test_up_refuses_a_taken_port_naming_it_before_starting_anything(
    tmp_path: Path, which: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = ChidaoUp(tmp_path)
        argv = list(up.argv)
        argv[argv.index(which) + 1] = str(port)
        done = subprocess.run(
            argv, env=up.env, cwd=REPO, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert f"port {port}" in done.stderr and which in done.stderr
    assert "Traceback" not in done.stderr
    logs = Path(up.env["CHIDAO_HOME"]) / "logs"
    assert not logs.exists() or not any(logs.iterdir())  # no child was started
