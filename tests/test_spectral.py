"""Spectral hashing (Weiss, Torralba and Fergus, 2008): the selected modes and the codes agree bit for bit with a
NumPy transcription of the authors' trainSH.m and compressSH.m, buckets are exact, a saved index loads back, and the
method runs once (deterministic: no seed)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from lshbench.methods import REGISTRY, SpectralHashing, load_index
from lshbench.methods.registry import ParameterError

EPS = np.finfo(np.float64).eps  # MATLAB's eps: 2.2204e-16


@pytest.fixture(scope="module")
def digits():
    x, _ = load_digits(return_X_y=True)
    return torch.tensor(x[:1400], dtype=torch.float32), torch.tensor(x[1400:], dtype=torch.float32)


def fixed_signs(vectors: np.ndarray) -> np.ndarray:
    """eigs returns each eigenvector with an arbitrary sign; lshbench makes each column's largest entry positive.
    The sign matters (a flipped direction mirrors u, which flips the bits of odd modes), so the reference does too."""
    largest = vectors[np.abs(vectors).argmax(0), np.arange(vectors.shape[1])]
    return vectors * np.sign(largest)


def reference_train_sh(X: np.ndarray, nbits: int):
    """trainSH.m, line by line (MATLAB's 1-based row counter m kept as it is)."""
    n_samples, n_dim = X.shape
    npca = min(nbits, n_dim)
    values, vectors = np.linalg.eigh(np.cov(X, rowvar=False))  # [pc, l] = eigs(cov(X), npca)
    pc = fixed_signs(vectors[:, ::-1][:, :npca])
    X = X @ pc  # no need to remove the mean
    mn = X.min(0) - EPS  # (mn = prctile(X, 5) is overwritten)
    mx = X.max(0) + EPS
    R = mx - mn
    max_mode = np.ceil((nbits + 1) * R / R.max()).astype(int)
    n_modes = max_mode.sum() - len(max_mode) + 1
    modes = np.ones((n_modes, npca))
    m = 1
    for i in range(npca):
        modes[m : m + max_mode[i] - 1, i] = np.arange(2, max_mode[i] + 1)  # modes(m+1:m+maxMode(i)-1,i) = 2:maxMode(i)
        m = m + max_mode[i] - 1
    modes = modes - 1
    omega0 = np.pi / R
    omegas = modes * omega0
    eig_val = -(omegas**2).sum(1)
    ii = np.argsort(-eig_val, kind="stable")  # [yy, ii] = sort(-eigVal): MATLAB's sort is stable
    modes = modes[ii[1 : nbits + 1]]
    return pc, mn, mx, modes, values[::-1][:npca]


def reference_compress_sh(X: np.ndarray, pc, mn, mx, modes) -> np.ndarray:
    """compressSH.m: U(:, i) = prod(sin(X .* omegai + pi/2), 2); the bits are U > 0."""
    n_samples = len(X)
    nbits = len(modes)
    X = X @ pc
    X = X - mn
    omega0 = np.pi / (mx - mn)
    omegas = modes * omega0
    U = np.zeros((n_samples, nbits))
    for i in range(nbits):
        ys = np.sin(X * omegas[i] + np.pi / 2)
        U[:, i] = ys.prod(1)
    return U > 0


@pytest.mark.parametrize("H", [4, 16, 48, 100])  # 100 > the 64 dimensions: npca = 64, several modes per direction
def test_modes_and_codes_match_the_authors_code(digits, H):
    gallery, queries = digits
    index = SpectralHashing(H).fit(gallery)
    pc, mn, mx, modes, variances = reference_train_sh(gallery.double().numpy(), H)
    assert index.modes.shape == (H, min(H, 64))
    np.testing.assert_array_equal(index.modes.numpy(), modes)
    if H >= 16:  # higher modes of the wide directions are chosen before the first mode of narrow ones
        assert modes.max() > 1 and index.modes.max() > 1
    # digits has constant pixels: directions of (near) zero variance are any basis of that null space, so only the
    # others are compared (their ranges are ~1e-14 and offer no mode: maxMode = 1)
    kept = variances > 1e-6
    np.testing.assert_allclose(index.directions.numpy()[:, kept], pc[:, kept], atol=1e-9)
    np.testing.assert_allclose(index.mn.numpy()[kept], mn[kept], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(index.mx.numpy()[kept], mx[kept], rtol=1e-10, atol=1e-9)
    for x in (gallery, queries):
        expected = reference_compress_sh(x.double().numpy(), pc, mn, mx, modes)
        found = index.codes(x)[0].numpy()
        assert (found != expected).sum() == 0, f"{(found != expected).sum()} of {found.size} bits differ"
        assert torch.equal(index.hamming_codes(x), index.codes(x)[0])


def test_the_widest_direction_offers_modes_one_to_h(digits):
    """maxMode of the widest direction is H + 1, and the code offers it modes 1 .. maxMode - 1: with one direction
    (H = 1: npca = 1) the single bit is mode 1, the lowest non-constant eigenfunction (a half period)."""
    gallery, _ = digits
    index = SpectralHashing(1).fit(gallery)
    assert index.modes.tolist() == [[1.0]]
    u = (gallery.double() @ index.directions - index.mn)[:, 0]
    width = index.mx - index.mn
    assert torch.equal(index.codes(gallery)[0][:, 0], u < width / 2)  # cos(pi u / R) > 0 on the first half


def test_buckets_are_exact_and_survive_save_and_load(digits, tmp_path):
    gallery, queries = digits
    index = SpectralHashing(12).fit(gallery)
    found = index.candidates(queries)
    gallery_codes, query_codes = index.codes(gallery)[0], index.codes(queries)[0]
    for i in range(len(queries)):
        expected = torch.nonzero((gallery_codes == query_codes[i]).all(1)).squeeze(1)
        assert torch.equal(found.row(i), expected)
    info = index.info()
    assert len(info["modes"]) == 12 and len(info["ones_share"]) == 12
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert loaded.params() == {"H": 12}
    again = loaded.candidates(queries)
    assert torch.equal(again.counts(), found.counts())
    for i in range(len(queries)):
        assert torch.equal(again.row(i), found.row(i))
    assert torch.equal(loaded.hamming_codes(queries), index.hamming_codes(queries))


def test_deterministic_runs_once_without_a_seed(digits):
    entry = REGISTRY["spectral"]
    assert not entry.seeded
    assert entry.plan({"H": [8, 16]}, {}, seeds=[0, 1, 2]) == [{"H": 8}, {"H": 16}]
    assert entry.folder({"H": 8}) == "H=8"
    index = SpectralHashing.build({"H": 8}, seed=5)  # the workflow passes a seed; a deterministic method drops it
    first = index.fit(digits[0]).codes(digits[1])[0]
    assert torch.equal(first, SpectralHashing(8).fit(digits[0]).codes(digits[1])[0])


def test_no_bits_is_a_clear_error():
    with pytest.raises(ParameterError, match="spectral hashing needs H >= 1"):
        SpectralHashing(0)
