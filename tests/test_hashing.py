"""Hash-table lookups against a brute-force dictionary of codes, for one-word and multi-word codes (H = 63, 64, 65,
100, 128, 200), and with a deliberately weak hash that makes codes collide."""

import pytest
import torch

from lshbench.methods import hashing
from lshbench.methods.hashing import HashTables, hash_words, pack_codes


def random_codes(n: int, H: int, distinct: int, generator: torch.Generator) -> torch.Tensor:
    """n codes drawn from ``distinct`` random codes of H bits (so buckets hold several items)."""
    pool = torch.rand(distinct, H, generator=generator) < 0.5
    return pool[torch.randint(distinct, (n,), generator=generator)]


def dictionary(codes: torch.Tensor) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = {}
    for i, code in enumerate(codes.tolist()):
        out.setdefault(tuple(code), []).append(i)
    return out


def check_against_dictionary(H: int, L: int = 3, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    gallery = [random_codes(600, H, 80, generator) for _ in range(L)]
    # queries: gallery codes (present) and fresh random codes (almost surely absent)
    queries = [torch.cat([g[:40], torch.rand(30, H, generator=generator) < 0.5]) for g in gallery]
    found = HashTables.build(gallery).lookup(queries)
    tables = [dictionary(g) for g in gallery]
    for q in range(70):
        expected = sorted({i for table, codes in zip(tables, queries) for i in table.get(tuple(codes[q].tolist()), [])})
        assert found.row(q).tolist() == expected, (H, q)


@pytest.mark.parametrize("H", [1, 8, 62, 63, 64, 65, 100, 128, 200])
def test_lookup_matches_a_dictionary_of_codes(H):
    check_against_dictionary(H)


@pytest.mark.parametrize("H", [64, 100, 200])
def test_colliding_hashes_never_share_a_bucket(H, monkeypatch):
    # a hash with 4 values: nearly every key collides with others, so lookups rely on the full-code check
    monkeypatch.setattr(hashing, "hash_words", lambda words: words[..., 0] & 3)
    check_against_dictionary(H, seed=1)


def test_hash_is_deterministic_and_uses_every_word():
    generator = torch.Generator().manual_seed(2)
    words = pack_codes(torch.rand(1000, 200, generator=generator) < 0.5)
    assert words.shape == (1000, 4)
    hashes = hash_words(words)
    assert torch.equal(hashes, hash_words(words.clone())) and len(torch.unique(hashes)) == 1000
    changed = words.clone()
    changed[:, 3] ^= 1  # the last word alone differs
    assert (hash_words(changed) != hashes).all()


class _ListsOnly:
    """An index's candidates as plain CSR (or its mask): the evaluator's generic path, no bucket hits."""

    def __init__(self, index):
        self.index = index

    def candidates(self, queries):
        return self.index.candidates(queries)


@pytest.mark.parametrize("build", ["hyperplane", "centred", "itq", "neural"])
@pytest.mark.parametrize("memory_mb", [1024, 1])
def test_bucket_path_ranks_as_the_list_path(build, memory_mb):
    """Scoring each (table, bucket)'s queries against its members, then merging, gives the generic path's Ranking
    bit for bit (ids, scores, counts, ap_sum), with blocks of many queries and of few."""
    import numpy as np

    from lshbench.candidates import BucketCandidates
    from lshbench.evaluate import Evaluator
    from lshbench.methods import ITQ, HyperplaneLSH, NeuralLSH
    from lshbench.methods.neural import train_network

    generator = torch.Generator().manual_seed(3)
    labels = torch.randint(8, (1300,), generator=generator)
    x = torch.relu(torch.randn(8, 48, generator=generator)[labels] + 1.5 * torch.randn(1300, 48, generator=generator))
    gallery, gallery_labels, queries, query_labels = x[:1100], labels[:1100], x[1100:], labels[1100:]
    index = {"hyperplane": lambda: HyperplaneLSH(6, 4), "centred": lambda: HyperplaneLSH(6, 5, center=True),
             "itq": lambda: ITQ(6, 3),
             "neural": lambda: NeuralLSH([train_network(gallery, gallery_labels, H=16, epochs=1, batch_size=128,
                                                        seed=0)[0]], J=5, L=3)}[build]().fit(gallery)
    if build != "hyperplane":  # uncentred hyperplanes may give a dense mask; the others lists of buckets
        assert isinstance(index.bucket_candidates(queries), BucketCandidates)
    evaluator = Evaluator(gallery, gallery_labels, queries, query_labels, memory_mb=memory_mb)
    ours, _ = evaluator.rankings(index, keep_top=30, latency_queries=1)
    reference, _ = evaluator.rankings(_ListsOnly(index), keep_top=30, latency_queries=1)
    for field in ("ids", "scores", "n_candidates", "n_relevant", "ap_sum"):
        assert np.array_equal(getattr(ours, field), getattr(reference, field)), field
