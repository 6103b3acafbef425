"""PCA hashing: codes agree with a NumPy PCA-and-sign transcription, bits are balanced on real data, buckets are
exact, a saved index loads back, and the method runs once (deterministic: no seed)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from lshbench.methods import PCAH, REGISTRY, load_index
from lshbench.methods.registry import ParameterError


@pytest.fixture(scope="module")
def digits():
    x, _ = load_digits(return_X_y=True)
    return torch.tensor(x[:1400], dtype=torch.float32), torch.tensor(x[1400:], dtype=torch.float32)


def reference_pcah(gallery: np.ndarray, x: np.ndarray, H: int) -> np.ndarray:
    """Centre on the gallery mean, project on the top H eigenvectors of its covariance (each column's largest entry
    positive, as lshbench fixes the arbitrary eigenvector sign), bit set when the projection is >= 0 (ITQ's rule)."""
    mean = gallery.mean(0)
    _, vectors = np.linalg.eigh(np.cov(gallery, rowvar=False))
    top = vectors[:, ::-1][:, :H]
    top = top * np.sign(top[np.abs(top).argmax(0), np.arange(H)])
    return (x - mean) @ top >= 0


@pytest.mark.parametrize("H", [1, 8, 32])
def test_codes_match_a_numpy_transcription(digits, H):
    gallery, queries = digits
    index = PCAH(H).fit(gallery)
    for x in (gallery, queries):
        expected = reference_pcah(gallery.double().numpy(), x.double().numpy(), H)
        found = index.codes(x)[0].numpy()
        assert found.shape == (len(x), H)
        assert (found != expected).sum() == 0, f"{(found != expected).sum()} of {found.size} bits differ"
        assert torch.equal(index.hamming_codes(x), index.codes(x)[0])


def test_bits_are_balanced(digits):
    index = PCAH(16).fit(digits[0])
    share = index.info()["ones_share"]  # centred projections: about half the gallery on each side
    assert len(share) == 16 and 0.4 < min(share) and max(share) < 0.6


def test_buckets_are_exact_and_survive_save_and_load(digits, tmp_path):
    gallery, queries = digits
    queries = torch.cat([queries, gallery[:5]])  # gallery items are their own bucket-mates
    index = PCAH(10).fit(gallery)
    found = index.candidates(queries)
    gallery_codes, query_codes = index.codes(gallery)[0], index.codes(queries)[0]
    for i in range(len(queries)):
        expected = torch.nonzero((gallery_codes == query_codes[i]).all(1)).squeeze(1)
        assert torch.equal(found.row(i), expected)
    assert all(i in found.row(len(queries) - 5 + i).tolist() for i in range(5))
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert loaded.params() == {"H": 10}
    again = loaded.candidates(queries)
    for i in range(len(queries)):
        assert torch.equal(again.row(i), found.row(i))
    assert torch.equal(loaded.hamming_codes(queries), index.hamming_codes(queries))


def test_deterministic_runs_once_without_a_seed():
    entry = REGISTRY["pcah"]
    assert not entry.seeded and entry.folder_keys == ["H"]
    assert entry.plan({"H": [8, 16]}, {}, seeds=[0, 1, 2]) == [{"H": 8}, {"H": 16}]
    assert PCAH.build({"H": 8}, seed=5).params() == {"H": 8}  # the workflow's seed is dropped


def test_more_bits_than_dimensions_is_a_clear_error(digits):
    with pytest.raises(ParameterError, match="PCAH H=65 exceeds the 64 dimensions of this space"):
        PCAH(65).fit(digits[0])
