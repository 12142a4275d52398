"""The distributed form's settings, named in one place: what a Prefect API server needs to run
beside others (PostgreSQL, Redis), and what every chidao process needs to share.

Nothing here starts anything: `prefect_server_env` is the environment of `prefect server start`
on a shared PostgreSQL database with Redis for messaging (the `prefect-redis` integration,
which Prefect needs for more than one API server), and `SHARED_CHIDAO` names the chidao
settings every worker and webhook process must be given alike. The README's "Running at
scale" says where each piece runs; the loopback test (tests/distributed/) starts them so.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# Every worker's flow runs and every webhook process: the same values, or the pieces disagree.
SHARED_CHIDAO = (
    "CHIDAO_DATABASE_URL",  # the ledger (PostgreSQL): the truth every process reads and writes
    "CHIDAO_SECRET_KEY",  # agency secrets and mail links; a key file under CHIDAO_HOME is per machine
    "CHIDAO_CHECKPOINT_KEY_FILE",  # the same Ed25519 key, copied to each machine that reconciles
    "CHIDAO_CHECKPOINT_LOG",  # the witness file: one file all append to (shared storage)
    "CHIDAO_WEBHOOK_BASE_URL",  # the address agencies reach, behind any load balancer
    "CHIDAO_SMTP_HOST",  # a real SMTP server (no embedded mail room at scale)
)


def asyncpg_url(database_url: str) -> str:
    """A PostgreSQL URL as the Prefect server's SQLAlchemy asyncpg driver wants it."""
    parts = urlsplit(database_url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ValueError(f"the Prefect database must be PostgreSQL, not {parts.scheme}")
    return parts._replace(scheme="postgresql+asyncpg").geturl()


def prefect_server_env(database_url: str, redis_host: str, redis_port: int, redis_db: int = 0) -> dict[str, str]:
    """The settings of a Prefect API server that runs beside others: the one PostgreSQL
    database, Redis for events and messaging, for the docket of background services and for
    concurrency leases. Give every API server the same values."""
    redis_url = f"redis://{redis_host}:{redis_port}/{redis_db}"
    return {
        "PREFECT_API_DATABASE_CONNECTION_URL": asyncpg_url(database_url),
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_REDIS_MESSAGING_HOST": redis_host,
        "PREFECT_REDIS_MESSAGING_PORT": str(redis_port),
        "PREFECT_REDIS_MESSAGING_DB": str(redis_db),
        "PREFECT_SERVER_DOCKET_URL": redis_url,
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
