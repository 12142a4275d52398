"""A Merkle tree over every event of the ledger, as RFC 6962 (Certificate Transparency) defines it.

Leaves are the events in global position order; a leaf's data is the canonical JSON of the
event's position, stream, version and chain hash. Hashes: leaf = SHA-256(0x00 ‖ data),
node = SHA-256(0x01 ‖ left ‖ right), and the root of n leaves splits at the largest power of
two below n (RFC 6962 §2.1), so any standard inclusion or consistency proof checker agrees.

The tree is grown incrementally: the `Frontier` holds the roots of the perfect subtrees the
current leaves decompose into (one per set bit of the size), appending a leaf combines at
most log2(n) of them, and every perfect subtree's root it completes is handed back to be
stored (`ledger_tree`), so proofs need O(log n) stored nodes and nothing is recomputed.
The functions here are pure; `ledger.checkpoint` keeps the nodes in the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ledger.verify import canonical_json

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()

# (level, index) -> hash of the perfect subtree covering leaves [index·2^level, (index+1)·2^level)
NodeGetter = Callable[[int, int], bytes]


def leaf_data(position: int, stream: str, version: int, event_hash: str) -> bytes:
    document = {"position": position, "stream": stream, "version": version, "hash": event_hash}
    return canonical_json(document).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True)
class Node:
    level: int
    index: int
    hash: bytes


@dataclass
class Frontier:
    """The right edge of the tree: roots of its perfect subtrees, largest (leftmost) first."""

    size: int = 0
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def for_size(cls, size: int, get: NodeGetter) -> Frontier:
        """The frontier of a tree of `size` leaves, read from its stored perfect subtrees."""
        nodes: list[Node] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size & (1 << level):
                index = start >> level
                nodes.append(Node(level, index, get(level, index)))
                start += 1 << level
        return cls(size, nodes)

    def append(self, leaf: bytes) -> list[Node]:
        """Add a leaf (already hashed); the perfect subtrees this completes, leaf included."""
        made = [Node(0, self.size, leaf)]
        current = made[0]
        while self.nodes and self.nodes[-1].level == current.level:
            left = self.nodes.pop()
            current = Node(current.level + 1, left.index // 2, node_hash(left.hash, current.hash))
            made.append(current)
        self.nodes.append(current)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.nodes:
            return bytes.fromhex(EMPTY_ROOT)
        digest = self.nodes[-1].hash
        for node in reversed(self.nodes[:-1]):
            digest = node_hash(node.hash, digest)
        return digest


def root_of(leaves: Iterable[bytes]) -> bytes:
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def range_hash(lo: int, hi: int, get: NodeGetter) -> bytes:
    """MTH of leaves [lo, hi) from stored perfect subtrees (RFC 6962 ranges only)."""
    n = hi - lo
    if n <= 0:
        raise ValueError(f"empty range [{lo}, {hi})")
    if n & (n - 1) == 0 and lo % n == 0:
        return get(n.bit_length() - 1, lo // n)
    k = _split(n)
    return node_hash(range_hash(lo, lo + k, get), range_hash(lo + k, hi, get))


def inclusion_proof(index: int, size: int, get: NodeGetter) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, lo, lo + k), range_hash(lo + k, hi, get)]
        return [*path(m - k, lo + k, hi), range_hash(lo, lo + k, get)]

    return path(index, 0, size)


def consistency_proof(old_size: int, size: int, get: NodeGetter) -> list[bytes]:
    """PROOF(old_size, D[0:size]) of RFC 6962 §2.1.2."""
    if not 0 < old_size <= size:
        raise ValueError(f"no consistency proof from {old_size} to {size}")

    def sub(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [range_hash(lo, hi, get)]
        k = _split(n)
        if m <= k:
            return [*sub(m, lo, lo + k, complete), range_hash(lo + k, hi, get)]
        return [*sub(m - k, lo + k, hi, False), range_hash(lo, lo + k, get)]

    return sub(old_size, 0, size, True)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, digest = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            digest = node_hash(p, digest)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            digest = node_hash(digest, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and digest == root


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2."""
    if old_size == size:
        return not proof and old_root == root
    if not 0 < old_size < size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == root and sn == 0
