"""Agencies' Ed25519 public keys: registered and revoked as events of the `agency-keys` stream.

An agency that signs with a key of its own leaves the server nothing that can forge its
answers: only the public half is here. Each registration (`AgencyKeyRegistered`) and each
revocation (`AgencyKeyRevoked`) is a hash-chained ledger event, so the key an agency had at
any moment is itself on the record, and `chidao verify --signatures` checks every answer
against the key registered *at that time*. A key is valid from its registration until its
`valid_until`, or until its revocation if that comes first; answers signed before a
revocation stay valid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import LedgerError
from ledger.signatures import ed25519_kid
from ledger.store import EventStore, NewEvent

STREAM = "agency-keys"
REGISTERED = "AgencyKeyRegistered"
REVOKED = "AgencyKeyRevoked"
DEFAULT_VALIDITY = dt.timedelta(days=730)


class KeyRegistryError(LedgerError):
    """A key cannot be registered or revoked as asked."""


@dataclass(frozen=True)
class AgencyKey:
    agency: str
    kid: str
    public_pem: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    registered_position: int
    revoked_at: dt.datetime | None = None
    revoked_position: int | None = None

    @property
    def keyid(self) -> str:
        return f"{self.agency}:{self.kid}"

    def public_key(self) -> Ed25519PublicKey:
        return load_public_pem(self.public_pem.encode())

    def valid_at(self, moment: dt.datetime) -> bool:
        ends = min(self.valid_until, self.revoked_at or self.valid_until)
        return self.valid_from <= moment < ends


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key of a PEM file, or KeyRegistryError saying what is wrong."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise KeyRegistryError("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from e
    if not isinstance(key, Ed25519PublicKey):
        raise KeyRegistryError("the key is not an Ed25519 key (make one with `chidao agencies keygen`)")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


class AgencyKeys:
    """The key registry of one ledger, folded from the `agency-keys` stream on each read."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def all(self) -> dict[str, AgencyKey]:
        found: dict[str, AgencyKey] = {}
        for event in self.store.read(STREAM):
            p = event.payload
            keyid = f"{p['agency']}:{p['kid']}"
            if event.type == REGISTERED:
                found[keyid] = AgencyKey(
                    agency=p["agency"],
                    kid=p["kid"],
                    public_pem=p["public_key"],
                    valid_from=dt.datetime.fromisoformat(p["valid_from"]),
                    valid_until=dt.datetime.fromisoformat(p["valid_until"]),
                    registered_position=event.position,
                )
            elif event.type == REVOKED and keyid in found:
                old = found[keyid]
                found[keyid] = AgencyKey(
                    **{
                        **old.__dict__,
                        "revoked_at": dt.datetime.fromisoformat(p["revoked_at"]),
                        "revoked_position": event.position,
                    }
                )
        return found

    def of(self, agency: str) -> list[AgencyKey]:
        return [k for k in self.all().values() if k.agency == agency]

    def register(
        self,
        agency: str,
        key: Ed25519PublicKey,
        *,
        at: dt.datetime,
        actor: str,
        valid_until: dt.datetime | None = None,
    ) -> AgencyKey:
        kid = ed25519_kid(key)
        until = valid_until or at + DEFAULT_VALIDITY
        if until <= at:
            raise KeyRegistryError("the key's validity must end after now")
        known = self.all()
        existing = known.get(f"{agency}:{kid}")
        if existing is not None:
            raise KeyRegistryError(f"key {existing.keyid} is already registered")
        for other in known.values():
            if other.kid == kid:
                raise KeyRegistryError(f"this key is already registered for {other.agency}")
        payload = {
            "agency": agency,
            "kid": kid,
            "alg": "ed25519",
            "public_key": public_pem(key),
            "valid_from": at.isoformat(),
            "valid_until": until.isoformat(),
        }
        self.store.append(
            STREAM,
            self.store.version(STREAM),
            [
                NewEvent(
                    type=REGISTERED,
                    payload=payload,
                    business_time=at,
                    actor=actor,
                    idempotency_key=f"agency-key:{agency}:{kid}:registered",
                )
            ],
        )
        return self.all()[f"{agency}:{kid}"]

    def revoke(self, keyid: str, *, at: dt.datetime, actor: str, reason: str) -> AgencyKey:
        found = self.all().get(keyid)
        if found is None:
            raise KeyRegistryError(f"no registered key {keyid}")
        if found.revoked_at is not None:
            raise KeyRegistryError(f"key {keyid} was already revoked on {found.revoked_at.isoformat()}")
        self.store.append(
            STREAM,
            self.store.version(STREAM),
            [
                NewEvent(
                    type=REVOKED,
                    payload={
                        "agency": found.agency,
                        "kid": found.kid,
                        "revoked_at": at.isoformat(),
                        "reason": reason,
                    },
                    business_time=at,
                    actor=actor,
                    idempotency_key=f"agency-key:{keyid}:revoked",
                )
            ],
        )
        return self.all()[keyid]
