"""Multi-probe hyperplane LSH: candidates are exactly the gallery items whose code lies within the probing radius of
the query's in some table (brute force over all codes), in any chunking; radius 0 is plain hyperplane LSH."""

import math

import pytest
import torch

from lshbench.methods import HyperplaneLSH, MultiProbeLSH, load_index
from lshbench.methods.multiprobe import probe_masks


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 20, generator=generator) * 2
    labels = torch.randint(5, (500,), generator=generator)
    x = (centres[labels] + torch.randn(500, 20, generator=generator)).relu()
    return x[:400], x[400:]


def hamming_ball(gallery_codes, query_codes, radius):
    hit = torch.zeros(len(query_codes[0]), len(gallery_codes[0]), dtype=torch.bool)
    for g, q in zip(gallery_codes, query_codes):
        hit |= (q[:, None, :] != g[None]).sum(-1) <= radius
    return hit


@pytest.mark.parametrize("H,L,radius,budget", [(6, 1, 1, 1 << 16), (8, 3, 2, 100), (10, 2, 2, 37), (70, 2, 1, 500)])
def test_candidates_are_the_hamming_ball_union(data, H, L, radius, budget):
    gallery, queries = data
    index = MultiProbeLSH(H, L, probes_radius=radius, seed=2, probe_budget=budget).fit(gallery)
    found = index.candidates(queries)
    expected = hamming_ball(index.codes(gallery), index.codes(queries), radius)
    for i in range(len(queries)):
        assert torch.equal(found.row(i), torch.nonzero(expected[i]).squeeze(1)), i


def test_radius_zero_is_plain_hyperplane_lsh_and_probing_adds_candidates(data):
    gallery, queries = data
    plain = HyperplaneLSH(8, 2, center=True, seed=4).fit(gallery).candidates(queries)
    counts = [MultiProbeLSH(8, 2, probes_radius=r, center=True, seed=4).fit(gallery).candidates(queries).counts()
              for r in (0, 1, 2)]
    assert torch.equal(counts[0], plain.counts())
    assert (counts[1] >= counts[0]).all() and (counts[2] >= counts[1]).all() and counts[2].sum() > counts[0].sum()


def test_probe_masks_enumerate_the_ball():
    masks = probe_masks(9, 2)
    assert len(masks) == 1 + 9 + math.comb(9, 2) and len({tuple(m.tolist()) for m in masks}) == len(masks)
    assert masks.sum(1).max() == 2 and not masks[0].any()


def test_save_and_load(data, tmp_path):
    gallery, queries = data
    index = MultiProbeLSH(8, 2, probes_radius=1, seed=0).fit(gallery)
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert loaded.params() == {"H": 8, "L": 2, "probes_radius": 1, "center": True, "seed": 0}
    assert torch.equal(loaded.candidates(queries).ids, index.candidates(queries).ids)
