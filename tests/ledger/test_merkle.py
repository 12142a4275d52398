"""The ledger's Merkle tree is RFC 6962's: roots, inclusion and consistency proofs agree with the RFC."""

from __future__ import annotations

import hashlib

import pytest

from ledger.merkle import (
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1, written from the text, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def tree(n: int) -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
    leaves = [leaf_hash(f"leaf {i}".encode()) for i in range(n)]
    frontier = Frontier()
    stored: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        for node in frontier.append(leaf):
            stored[(node.level, node.index)] = node.hash
    return leaves, stored


def test_the_empty_tree_and_a_known_vector() -> None:
    assert root_of([]).hex() == hashlib.sha256(b"").hexdigest()
    # RFC 6962's leaf hash of the empty string (Certificate Transparency test vectors).
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@pytest.mark.parametrize("n", range(1, 34))
def test_roots_and_proofs_agree_with_the_rfc(n: int) -> None:
    leaves, stored = tree(n)
    get = lambda level, index: stored[(level, index)]  # noqa: E731
    root = reference_mth(leaves)
    frontier = Frontier.for_size(n, get)
    assert frontier.root() == root == root_of(leaves)
    for i in range(n):
        proof = inclusion_proof(i, n, get)
        assert verify_inclusion(i, n, leaves[i], proof, root)
        assert not verify_inclusion(i, n, leaf_hash(b"forged"), proof, root)
    for m in range(1, n + 1):
        old_root = reference_mth(leaves[:m])
        proof = consistency_proof(m, n, get)
        assert verify_consistency(m, n, old_root, root, proof)
        if m < n:
            assert not verify_consistency(m, n, leaf_hash(b"x"), root, proof)


def test_appending_completes_at_most_log_n_subtrees() -> None:
    frontier = Frontier()
    for i in range(1024):
        made = frontier.append(leaf_hash(str(i).encode()))
        assert len(made) <= 11
    assert len(frontier.nodes) == 1 and frontier.nodes[0].level == 10
