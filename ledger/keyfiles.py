"""Key files outside the database: created atomically, 0600, in a directory only the owner enters.

Used for the server's Ed25519 checkpoint key (`signing_key`) and, through chidao.settings,
the secret key file. A key file appears complete or not at all: it is written to a temporary
file, fsynced and hard-linked into place, so processes starting together on a new home never
read an empty or half-written key and all end up with the same one.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)


class KeyProblem(ValueError):
    """A key setting or key file that cannot be used; the message names it."""


def ensure_private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (0700), created if missing."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and path.stat().st_uid == os.getuid():
        os.chmod(path, mode & 0o700)
    return path


def create_exclusively(path: Path, content: bytes) -> bool:
    """Put `content` at `path` in one step unless a file is there already; True if written.

    Written to a temporary file (0600) in the same directory, fsynced, then hard-linked into
    place (link fails if `path` exists), so no reader ever sees a partly written file and two
    processes racing on a new home agree on one key.
    """
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return True
    finally:
        if fd >= 0:
            os.close(fd)
        os.unlink(temp)


def signing_key(path: Path, setting: str) -> Ed25519PrivateKey:
    """The server's Ed25519 checkpoint key from its PEM file, created (0600, atomically) if
    missing. It must never be stored in the ledger database."""
    ensure_private_dir(path.parent)
    if not path.exists():
        fresh = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        create_exclusively(path, fresh)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as e:
        raise KeyProblem(
            f"the checkpoint key {path} ({setting}) is not a readable "
            f"unencrypted PEM private key: {e}"
        ) from e
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyProblem(f"the checkpoint key {path} ({setting}) is not an Ed25519 key")
    return key
