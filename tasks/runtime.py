"""Process-wide ledger engines, one per database URL, created on first use (never at import)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_for(database_url: str) -> Engine:
    with _lock:
        engine = _engines.get(database_url)
        if engine is None:
            engine = make_engine(database_url)
            ensure_schema(engine)
            _engines[database_url] = engine
        return engine


def directives_for(database_url: str) -> Directives:
    return Directives.over(engine_for(database_url))


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
