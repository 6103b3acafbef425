"""ITQ (Gong and Lazebnik, 2011): the rotation agrees with a NumPy transcription of the authors' MATLAB ITQ loop, the
quantisation loss never increases, codes are balanced on real data, and buckets are exact."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from lshbench.methods import ITQ, load_index
from lshbench.methods.itq import itq_rotation, principal_directions, random_rotation
from lshbench.methods.registry import ParameterError


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return torch.tensor(x[:1400], dtype=torch.float32), torch.tensor(x[1400:], dtype=torch.float32)


def reference_itq(v: np.ndarray, rotation: np.ndarray, iterations: int) -> np.ndarray:
    """ITQ.m of Gong and Lazebnik's code: UX = ones; UX(Z < 0) = -1; C = UX' * V; [UB, sigma, UA] = svd(C);
    R = UA * UB'  (their R multiplies on the right: V * R)."""
    for _ in range(iterations):
        z = v @ rotation
        ux = np.where(z < 0, -1.0, 1.0)
        c = ux.T @ v
        ub, _, uat = np.linalg.svd(c)
        rotation = uat.T @ ub.T
    return rotation


def test_rotation_matches_the_reference_and_the_loss_never_increases(digits):
    gallery, _ = digits
    mean, directions = principal_directions(gallery, 16)
    v = (gallery - mean) @ directions
    start = random_rotation(16, torch.Generator().manual_seed(0))
    assert torch.allclose(start @ start.T, torch.eye(16), atol=1e-5)  # orthogonal
    rotation, losses = itq_rotation(v, start, 50)
    expected = reference_itq(v.double().numpy(), start.double().numpy(), 50)
    np.testing.assert_allclose(rotation.numpy(), expected, atol=1e-4)
    assert len(losses) == 51
    assert all(after <= before * (1 + 1e-12) for before, after in zip(losses, losses[1:]))
    assert losses[-1] < losses[0]


def test_codes_are_balanced_and_tables_differ(digits):
    gallery, _ = digits
    index = ITQ(16, 3, seed=0).fit(gallery)
    for share in index.ones_share:  # share of gallery codes with each bit set
        assert 0.3 < min(share) and max(share) < 0.7
    codes = index.codes(gallery)
    assert not torch.equal(codes[0], codes[1])  # tables start from their own rotations
    info = index.info()
    assert len(info["quantization_loss"]) == 3 and len(info["quantization_loss"][0]) == 51


def test_buckets_are_exact_and_survive_save_and_load(digits, tmp_path):
    gallery, queries = digits
    index = ITQ(8, 2, seed=1).fit(gallery)
    found = index.candidates(queries)
    gallery_codes, query_codes = index.codes(gallery), index.codes(queries)
    for i in range(len(queries)):
        hit = torch.zeros(len(gallery), dtype=torch.bool)
        for g, q in zip(gallery_codes, query_codes):
            hit |= (g == q[i]).all(1)
        assert torch.equal(found.row(i), torch.nonzero(hit).squeeze(1))
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert loaded.params() == {"H": 8, "L": 2, "iterations": 50, "seed": 1}
    assert torch.equal(loaded.candidates(queries).counts(), found.counts())


def test_more_bits_than_dimensions_is_a_clear_error(digits):
    with pytest.raises(ParameterError, match="ITQ H=65 exceeds the 64 dimensions of this space"):
        ITQ(65, 1).fit(digits[0])
