"""Benchmark of the agency inbox (`GET /v1/agencies/{a}/inbox`) over 10 and 500 directives,
against `/healthz` on the same server, in the same run.

For each size a fresh SQLite ledger (temp file, WAL) gets that many copies of 2810 issued
through `Directives.over` (so their projections are written), and the webhook is served by
uvicorn on loopback in a thread. Each round, another process records a command on one
directive (an acknowledgement by a district, through the ledger), then this process times one
signed inbox GET for a district tracked by every directive — the first read after that
write — and one `/healthz` GET. The medians over --rounds rounds are compared.

    .venv/bin/python bench/inbox_bench.py
    .venv/bin/python bench/inbox_bench.py --sizes 10 100 --rounds 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.fernet import Fernet

from chidao.webhook.auth import secret_key_bytes
from ledger.signatures import sign_headers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_bench import BUSINESS_NOW, serving

from chidao.webhook import SecretStore, create_app
from definitions.loader import DIRECTIVES_DIR, load_definition, load_directory
from definitions.resolve import resolve
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from lifecycle.commands import Issue

READER = "ubnd-ba-to"  # a district tracked by every copy
WRITE = r"""
import datetime as dt, sys
sys.path.insert(0, {root!r})
from ledger.db import make_engine
from ledger.directives import Directives
from lifecycle import commands as c
directives = Directives.over(make_engine({url!r}))
agency = sys.argv[2]
directives.execute(sys.argv[1], c.Acknowledge(actor=agency, agency=agency),
                   dt.datetime(2023, 6, 21, 2, tzinfo=dt.UTC), key=f"bench-ack-{{agency}}-{{sys.argv[1]}}")
"""


def issue(engine_url: str, count: int) -> tuple[list[str], list[str]]:
    directory = load_directory()
    base = resolve(
        load_definition(DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml", directory), directory
    )
    directives = Directives.over(make_engine(engine_url))
    ids = []
    for n in range(count):
        directive_id = f"bench-2810-{n:04d}"
        copy = base.model_copy(
            update={"definition": base.definition.model_copy(update={"id": directive_id})}
        )
        directives.execute(
            directive_id,
            Issue(actor="operator", resolved=copy.model_dump(mode="json")),
            dt.datetime(2023, 6, 20, 2, tzinfo=dt.UTC),
            key=f"issue-{directive_id}",
        )
        ids.append(directive_id)
    others = [a.id for a in base.tracked if a.id.startswith("ubnd-") and a.id != READER]
    return ids, others


def signed_get(signer: bytes, path: str) -> dict[str, str]:
    """An RFC 9421 signed GET under the reader's HMAC secret."""
    return sign_headers("GET", path, "", b"", keyid=f"{READER}:hmac", key=signer, alg="hmac-sha256")


def measure(size: int, rounds: int, root: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        engine = make_engine(url)
        ensure_schema(engine)
        ids, others = issue(url, size)
        store = SecretStore(engine, Fernet.generate_key())
        signer = secret_key_bytes(store.generate(READER))
        app = create_app(engine=engine, secrets=store, clock=lambda: BUSINESS_NOW)
        inbox_times: list[float] = []
        health_times: list[float] = []
        entries = 0
        path = f"/v1/agencies/{READER}/inbox"
        with serving(app) as base, httpx.Client(base_url=base, timeout=60) as client:
            client.get(path, headers=signed_get(signer, path)).raise_for_status()  # warm-up
            for n in range(rounds):
                subprocess.run(
                    [sys.executable, "-c", WRITE.format(root=root, url=url),
                     ids[n % len(ids)], others[n % len(others)]],
                    check=True,
                )
                headers = signed_get(signer, path)
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                inbox_times.append(time.perf_counter() - started)
                response.raise_for_status()
                entries = len(response.json()["entries"])
                started = time.perf_counter()
                client.get("/healthz").raise_for_status()
                health_times.append(time.perf_counter() - started)
        engine.dispose()
    return {
        "inbox": statistics.median(inbox_times),
        "healthz": statistics.median(health_times),
        "entries": entries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 500])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parent.parent)
    results = {size: measure(size, args.rounds, root) for size in args.sizes}
    for size, r in results.items():
        print(
            f"{size:>4} directives: inbox {r['inbox'] * 1000:7.1f} ms ({int(r['entries'])} entries)"
            f"   /healthz {r['healthz'] * 1000:5.1f} ms   inbox / healthz {r['inbox'] / r['healthz']:.1f}"
        )
    small, large = min(results), max(results)
    print(
        f"inbox over {large} / inbox over {small}: "
        f"{results[large]['inbox'] / results[small]['inbox']:.2f} (goal ≤ 2); "
        f"over {large} / healthz: {results[large]['inbox'] / results[large]['healthz']:.1f} (goal ≤ 5)"
    )


if __name__ == "__main__":
    main()
