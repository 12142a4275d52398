"""`chidao up [--demo]`: everything one machine needs, started together and stopped with one Ctrl-C.

The children, each in a session of its own (so a Ctrl-C in the terminal reaches `up` alone,
which then stops them in order): the Prefect server on its embedded SQLite under PREFECT_HOME
(unless PREFECT_API_URL names a server that answers, which is used instead), told its port
and the API URL its UI must call (PREFECT_UI_API_URL); the embedded mail room
(`notifications.maildir`, SMTP on a free loopback port into CHIDAO_HOME/mailroom) when no
SMTP server is configured; the runner that serves the `directive`, `launch` and `sweep` deployments
(`python -m flows.serve`, polling every second); and the agency webhook (`chidao serve`), with
PREFECT_API_URL set so an agency's call wakes its directive. Every child gets the same ports.
A port already taken is refused before anything starts, naming it. Their output goes to log
files under CHIDAO_HOME/logs; when one dies, `up` says which, shows the end of its log and
stops the others.

`--demo` also runs 2810 through its packaged scenario in simulated time, in the main ledger
under its own id (`demo-qn-2810-ubnd-kgvx-2023`), so the webhook answers its mail's links;
its mail goes to the mail room, and every run shows in the UI.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Annotated

from cyclopts import Parameter

from chidao.cli.common import CliError, settings
from i18n import _

DEMO_DIRECTIVE = "qn-2810-ubnd-kgvx-2023"
DEMO_ID = f"demo-{DEMO_DIRECTIVE}"  # the demo's own id in the main ledger
STARTUP_SECONDS = 90.0
STOP_SECONDS = 10.0
OFFLINE = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class _Stop(Exception):
    """Ctrl-C or SIGTERM reached `up`."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    service: bool = True  # a service must keep running; a job (the demo) may end
    _file: IO[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    """In the child, before exec: its own session, and SIGTERM if `up` itself is killed."""
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    """Starts children, watches them, and stops them all (SIGTERM, then SIGKILL) in reverse."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        cwd: Path | None = None,
        service: bool = True,
    ) -> Child:
        self.logs.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        # 0600: a log may hold what a reader of the machine should not see (request lines).
        handle = os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        os.chmod(log, 0o600)
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        child = Child(name, process, log, service, handle)
        self.children.append(child)
        return child

    def dead_service(self) -> Child | None:
        return next((c for c in self.children if c.service and not c.alive()), None)

    def stop_all(self, timeout: float = STOP_SECONDS) -> None:
        for child in reversed(self.children):
            if child.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"  {child.name} did not stop within {timeout:g} s; killed", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(5)
            # Whatever it left behind in its session (a flow run's process) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            if child._file is not None:
                child._file.close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(
    what: str, check: Callable[[], bool], supervisor: Supervisor, timeout: float = STARTUP_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        dead = supervisor.dead_service()
        if dead is not None:
            raise _ChildDied(dead)
        if time.monotonic() > deadline:
            raise CliError(f"{what} did not come up within {timeout:g} s; see {supervisor.logs}")
        time.sleep(0.25)


class _ChildDied(Exception):
    def __init__(self, child: Child) -> None:
        super().__init__(child.name)
        self.child = child


def _deployments_exist(api_url: str) -> Callable[[], bool]:
    import asyncio

    from prefect.client.orchestration import PrefectClient

    from tasks.schedule import DIRECTIVE_DEPLOYMENT

    async def check() -> bool:
        async with PrefectClient(api_url) as client:
            try:
                for name in (DIRECTIVE_DEPLOYMENT, "launch/launch", "sweep/sweep"):
                    await client.read_deployment_by_name(name)
            except Exception:
                return False
        return True

    return lambda: asyncio.run(check())


def _configured_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    value = PREFECT_API_URL.value()
    return str(value).rstrip("/") if value else None


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


CHIDAO = "from chidao.cli import main; raise SystemExit(main())"


def _demo_state(database_url: str) -> bool:
    """True when the demo ledger already holds the demo directive."""
    from ledger.db import ensure_schema, make_engine
    from ledger.directives import Directives
    from ledger.store import EventStore

    engine = make_engine(database_url)
    try:
        ensure_schema(engine)
        return bool(Directives(EventStore(engine)).exists(DEMO_ID))
    finally:
        engine.dispose()


@contextlib.contextmanager
def _signals_raise_stop() -> Iterator[None]:
    def stop(_signum: int, _frame: FrameType | None) -> None:
        # Once: a second Ctrl-C while stopping must not cut the stopping short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise _Stop

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _free_port() -> int:
    """A loopback port nothing listens on now, chosen by the kernel."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _mail_configured(env: dict[str, str]) -> bool:
    """A real SMTP server (any CHIDAO_SMTP_* setting) or a dry-run folder is configured."""
    return any(k.startswith("CHIDAO_SMTP_") for k in env) or bool(env.get("CHIDAO_MAIL_DRY_RUN_DIR"))


def _refuse_taken(port: int, what: str, option: str) -> None:
    if not _port_free(port):
        raise CliError(
            f"port {port} ({what}) is already in use on 127.0.0.1; free it, or give another "
            f"with {option}"
        )


def _start_mailroom(supervisor: Supervisor, env: dict[str, str], home: Path) -> Path:
    """The embedded SMTP server into CHIDAO_HOME/mailroom; its address goes to every child."""
    folder = home / "mailroom"
    port = _free_port()
    supervisor.start(
        "mailroom",
        [sys.executable, "-m", "notifications.maildir", "--dir", str(folder), "--port", str(port)],
        env,
    )
    _wait_for("the embedded mail room", lambda: _accepts(port), supervisor)
    env["CHIDAO_SMTP_HOST"] = "127.0.0.1"
    env["CHIDAO_SMTP_PORT"] = str(port)
    env["CHIDAO_SMTP_SECURITY"] = "none"
    env["CHIDAO_MAILROOM_DIR"] = str(folder)
    return folder


def _server_env(env: dict[str, str], port: int, api_url: str, ui_url: str) -> dict[str, str]:
    """The Prefect server's environment: its port, and the API URL its UI must call."""
    server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    server_env.update(
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        # what the UI's /ui-settings hands the browser: without it the UI calls port 4200
        PREFECT_UI_API_URL=api_url,
        PREFECT_UI_URL=ui_url,
    )
    return server_env


def run_up(
    *,
    demo: Annotated[
        bool, Parameter(help=_("also run 2810 through its scenario in simulated time, shown in the UI"))
    ] = False,
    port: Annotated[int, Parameter(help=_("Prefect server and UI (default 4200)"))] = 4200,
    webhook_port: Annotated[int, Parameter(help=_("agency webhook (default 8765)"))] = 8765,
) -> int:
    """Start what one machine needs: the Prefect server and UI (embedded SQLite under
    PREFECT_HOME, or the server in PREFECT_API_URL if it answers), the runner serving the
    directive, launch and sweep deployments, and the agency webhook. Ctrl-C stops all."""
    from ledger.db import mask_url

    config = settings()
    home = config.ensure_home()
    supervisor = Supervisor(home / "logs")
    repo = Path(__file__).resolve().parents[2]  # the parent of flows/, for the entrypoints

    webhook_url = f"http://127.0.0.1:{webhook_port}"
    env = {**os.environ, **OFFLINE}
    env["CHIDAO_WEBHOOK_BASE_URL"] = webhook_url
    env["PYTHONUNBUFFERED"] = "1"

    with _signals_raise_stop():
        try:
            api_url = _configured_api_url()
            _refuse_taken(webhook_port, "the webhook", "--webhook-port")
            if api_url:
                if not _answers(f"{api_url}/health"):
                    raise CliError(
                        f"PREFECT_API_URL={api_url} does not answer; start that server, or unset "
                        "PREFECT_API_URL to run one here"
                    )
                ui_url = api_url.removesuffix("/api")
                print(f"Prefect: using the server at {api_url}", flush=True)
            else:
                _refuse_taken(port, "the Prefect server and UI", "--port")
                api_url = f"http://127.0.0.1:{port}/api"
                ui_url = f"http://127.0.0.1:{port}"
                print(f"starting the Prefect server on port {port} …", flush=True)
                supervisor.start(
                    "prefect-server",
                    [
                        sys.executable,
                        "-m",
                        "prefect",
                        "server",
                        "start",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                    ],
                    _server_env(env, port, api_url, ui_url),
                )
                _wait_for("the Prefect server", lambda: _answers(f"{api_url}/health"), supervisor)
                env["PREFECT_UI_URL"] = ui_url
            env["PREFECT_API_URL"] = api_url
            env.setdefault("PREFECT_UI_URL", ui_url)
            env.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "1")
            mailroom = None if _mail_configured(env) else _start_mailroom(supervisor, env, home)

            supervisor.start("runner", [sys.executable, "-m", "flows.serve"], env, cwd=repo)
            supervisor.start(
                "webhook",
                [
                    *_python(CHIDAO),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(webhook_port),
                ],
                env,
            )
            _wait_for("the webhook", lambda: _answers(f"{webhook_url}/healthz"), supervisor)
            _wait_for("the deployments", _deployments_exist(api_url), supervisor)

            print(f"Prefect UI:  {ui_url}", flush=True)
            print(f"webhook:     {webhook_url}  (API docs at {webhook_url}/docs)", flush=True)
            if mailroom is not None:
                print(
                    f"mail room:   {webhook_url}/mailroom  (no SMTP server configured: every "
                    f"message is kept in {mailroom}; set CHIDAO_SMTP_* to send for real)",
                    flush=True,
                )
            print(f"ledger:      {mask_url(config.resolved_database_url)}", flush=True)
            print(f"logs:        {supervisor.logs}", flush=True)
            print(
                f"in another terminal: export PREFECT_API_URL={api_url}   "
                "then `chidao launch DEFINITION`, `chidao status`",
                flush=True,
            )
            demo_child = (
                _start_demo(supervisor, env, home, config.resolved_database_url, mailroom)
                if demo
                else None
            )
            print("running; Ctrl-C stops everything", flush=True)
            return _watch(supervisor, demo_child, ui_url)
        except _Stop:
            print("\nstopping …", flush=True)
            supervisor.stop_all()
            print("stopped", flush=True)
            return 0
        except _ChildDied as e:
            _report_death(e.child)
            supervisor.stop_all()
            return 1
        except BaseException:
            supervisor.stop_all()
            raise


def _report_death(child: Child) -> None:
    print(
        f"chidao up: {child.name} exited (status {child.process.returncode}); stopping the rest. "
        f"The end of {child.log}:",
        file=sys.stderr,
    )
    print(child.tail(), file=sys.stderr, flush=True)


def _start_demo(
    supervisor: Supervisor,
    env: dict[str, str],
    home: Path,
    database_url: str,
    mailroom: Path | None,
) -> Child | None:
    """2810's scenario in simulated time, in the main ledger under the demo's own id.

    In the main ledger, so the webhook that serves it answers the demo mail's links and its
    answers show in `chidao status` and the UI like any directive's; under `demo-…`, so the
    real 2810 can still be launched beside it. Its mail goes to the embedded mail room, or to
    CHIDAO_HOME/demo/mail when a real SMTP server is set (the demo never mails agencies).
    """
    import definitions

    if _demo_state(database_url):
        print(
            f"demo: {DEMO_ID} is already in the ledger; not simulated again (its runs and mail "
            "are those of the first `up --demo`)",
            flush=True,
        )
        return None
    definition = Path(definitions.__file__).parent / "directives" / f"{DEMO_DIRECTIVE}.yaml"
    print(
        f"demo: simulating 2810/UBND-KGVX as {DEMO_ID} through its 2023 cycle; its runs "
        "appear in the UI as they happen"
        + (", its mail in the mail room" if mailroom is not None else ""),
        flush=True,
    )
    mail = ["--smtp"] if mailroom is not None else ["--mail-dir", str(home / "demo" / "mail")]
    return supervisor.start(
        "demo",
        [
            *_python(CHIDAO),
            "simulate",
            str(definition),
            "--database",
            database_url,
            "--directive-id",
            DEMO_ID,
            *mail,
        ],
        env,
        service=False,
    )


def _watch(supervisor: Supervisor, demo: Child | None, ui_url: str) -> int:
    while True:
        dead = supervisor.dead_service()
        if dead is not None:
            raise _ChildDied(dead)
        if demo is not None and not demo.alive():
            if demo.process.returncode == 0:
                print(
                    f"demo: done; see the runs of {DEMO_ID} at {ui_url}/runs and its status "
                    f"table at {ui_url}/artifacts; ledger timeline in {demo.log}",
                    flush=True,
                )
            else:
                print(
                    f"demo: the simulation failed (status {demo.process.returncode}); the rest "
                    f"keeps running. The end of {demo.log}:\n{demo.tail()}",
                    file=sys.stderr,
                    flush=True,
                )
            demo = None
        time.sleep(0.25)
