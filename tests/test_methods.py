import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans as SkKMeans

from lshbench.methods import Exact, HyperplaneLSH, KMeans, NeuralLSH, load_index
from lshbench.methods.base import ParameterError
from lshbench.methods.hashing import pack_codes
from lshbench.methods.kmeans import kmeans_plus_plus
from lshbench.methods.neural import loss_terms, train_network


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(6, 24, generator=generator) * 3
    labels = torch.randint(6, (400,), generator=generator)
    x = centres[labels] + torch.randn(400, 24, generator=generator)
    return x[:300], labels[:300], x[300:], labels[300:]


def rows(candidates):
    return [set(candidates.row(i).tolist()) for i in range(candidates.n_queries)]


def brute_force_buckets(gallery_codes, query_codes):
    """Per query: gallery items whose code equals the query's in at least one table (codes as numpy bool)."""
    out = []
    for q in range(query_codes[0].shape[0]):
        hit = np.zeros(gallery_codes[0].shape[0], dtype=bool)
        for g_code, q_code in zip(gallery_codes, query_codes):
            hit |= (g_code == q_code[q]).all(1)
        out.append(set(np.flatnonzero(hit).tolist()))
    return out


@pytest.mark.parametrize("H,L,center", [(3, 2, False), (6, 3, True), (100, 3, True), (130, 2, True)])
def test_hyperplane_buckets_match_brute_force(data, H, L, center):
    gallery, _, queries, _ = data
    queries = torch.cat([queries, gallery[:5]])  # gallery items are their own bucket-mates
    index = HyperplaneLSH(H, L, center=center, seed=3).fit(gallery)
    expected = brute_force_buckets([c.numpy() for c in index.codes(gallery)], [c.numpy() for c in index.codes(queries)])
    candidates = index.candidates(queries)
    assert (candidates.mask is not None) == (H < 100)  # big buckets: the dense form; small ones: CSR
    assert rows(candidates) == expected
    for i in range(candidates.n_queries):  # ascending and de-duplicated
        row = candidates.row(i)
        assert torch.all(row[1:] > row[:-1])
    assert all(i in expected[len(expected) - 5 + i] for i in range(5))


def test_codes_differing_in_the_last_of_100_bits_are_different_buckets():
    bits = torch.zeros(3, 100, dtype=torch.bool)
    bits[1, 99] = True
    bits[2, 0] = True
    packed = pack_codes(bits)
    assert packed.shape == (3, 2) and len(torch.unique(packed, dim=0)) == 3


def test_kmeans_inertia_matches_scikit_learn_from_same_init(data):
    gallery = data[0]
    init = kmeans_plus_plus(gallery, 12, torch.Generator().manual_seed(0))
    ours = KMeans(12, max_iter=50, tol=1e-6).fit(gallery, init=init)
    theirs = SkKMeans(12, init=init.numpy(), n_init=1, max_iter=50, tol=1e-6, algorithm="lloyd").fit(gallery.numpy())
    assert ours.inertia == pytest.approx(theirs.inertia_, rel=0.01)


def blobs(n=3000, dim=16, classes=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = 4 * torch.randn(classes, dim, generator=generator)
    labels = torch.randint(classes, (n,), generator=generator)
    return torch.relu(centres[labels] + torch.randn(n, dim, generator=generator))


@pytest.mark.parametrize("algorithm, K", [("lloyd", 8), ("lloyd", 40), ("minibatch", 8), ("minibatch", 40)])
def test_kmeans_whole_fit_inertia_matches_scikit_learn(algorithm, K):
    from sklearn.cluster import MiniBatchKMeans

    x = blobs()
    ours = [KMeans(K, algorithm=algorithm, seed=seed).fit(x).inertia for seed in range(3)]
    if algorithm == "lloyd":
        theirs = [SkKMeans(K, n_init=1, random_state=seed).fit(x.numpy()).inertia_ for seed in range(3)]
    else:  # MiniBatchKMeans.inertia_ is that of the last batch: score the whole set
        theirs = [-MiniBatchKMeans(K, batch_size=1024, n_init=1, random_state=seed).fit(x.numpy()).score(x.numpy())
                  for seed in range(3)]
    assert np.mean(ours) == pytest.approx(np.mean(theirs), rel=0.02)


def test_minibatch_stops_early_like_scikit_learn():
    x = blobs(n=20000)
    model = KMeans(8, algorithm="minibatch", seed=0).fit(x)
    assert 1 <= model.iterations < 100 and model.steps < 100 * 20000 // 1024  # the smoothed inertia stopped it
    assert KMeans(8, algorithm="minibatch", max_no_improvement=None, seed=0).fit(x).iterations == 100


def test_lloyd_relocates_an_empty_cluster_as_scikit_learn():
    x = blobs(n=500, classes=4)
    init = torch.cat([x[:3], x[:1]])  # two identical centres: the second is empty after the first assignment
    ours = KMeans(4, max_iter=1, tol=0).fit(x, init=init)
    theirs = SkKMeans(4, init=init.numpy(), n_init=1, max_iter=1, tol=0).fit(x.numpy())
    np.testing.assert_allclose(ours.centroids.numpy(), theirs.cluster_centers_, rtol=1e-4, atol=1e-4)
    assert int(torch.bincount(ours.assignment, minlength=4).min()) > 0


def test_kmeans_candidates_are_nearest_cluster_members(data):
    gallery, _, queries, _ = data
    index = KMeans(10, seed=2).fit(gallery)
    distances = ((queries[:, None] - index.centroids[None]) ** 2).sum(-1)
    assignment = index.assignment.numpy()
    nearest = distances.argmin(1).numpy()
    assert rows(index.candidates(queries)) == [set(np.flatnonzero(assignment == c).tolist()) for c in nearest]
    two = torch.topk(distances, 2, largest=False).indices.numpy()
    expected = [set(np.flatnonzero(np.isin(assignment, c)).tolist()) for c in two]
    assert rows(KMeans(10, seed=2, probes=2).fit(gallery).candidates(queries)) == expected
    assert (assignment == ((gallery[:, None] - index.centroids[None]) ** 2).sum(-1).argmin(1).numpy()).all()


def test_minibatch_kmeans_is_close_to_lloyd(data):
    gallery = data[0]
    lloyd = KMeans(6, seed=0).fit(gallery)
    minibatch = KMeans(6, algorithm="minibatch", batch_size=64, max_iter=30, seed=0).fit(gallery)
    assert minibatch.inertia < 1.2 * lloyd.inertia


def test_k_larger_than_gallery_is_a_clear_error(data):
    with pytest.raises(ParameterError, match="K=301 exceeds the gallery size 300"):
        KMeans(301).fit(data[0])


def test_neural_loss_is_the_reports_formula():
    generator = torch.Generator().manual_seed(0)
    outputs = torch.tanh(torch.randn(7, 5, generator=generator))
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 0])
    balance, fence, supervision = loss_terms(outputs, labels)
    n = len(outputs)
    assert balance.item() == pytest.approx(sum(abs(float(outputs[u].sum())) for u in range(n)) / n, rel=1e-6)
    assert fence.item() == pytest.approx(
        sum(float((outputs[u].abs() - 1).abs().sum()) for u in range(n)) / n, rel=1e-6)
    pairs = [(u, v) for u in range(n) for v in range(u + 1, n) if labels[u] != labels[v]]
    direct = sum(abs(float(outputs[u] @ outputs[v])) for u, v in pairs) / len(pairs)
    assert supervision.item() == pytest.approx(direct, rel=1e-6)


def test_neural_training_lowers_the_loss_and_tables_use_j_bits(data):
    gallery, labels, queries, _ = data
    network, history = train_network(gallery, labels, H=32, epochs=6, batch_size=64, seed=0)
    assert len(history) == 6 and history[-1]["total"] < history[0]["total"]
    assert history[0]["total"] == pytest.approx(
        0.3 * history[0]["balance"] + 0.3 * history[0]["fence"] + 0.4 * history[0]["supervision"], rel=1e-4)
    index = NeuralLSH([network], J=5, L=4, seed=1).fit(gallery)
    assert index.bits.shape == (4, 5) and all(len(set(b.tolist())) == 5 for b in index.bits)
    codes_g, codes_q = index.codes(gallery), index.codes(queries)
    assert rows(index.candidates(queries)) == brute_force_buckets([c.numpy() for c in codes_g],
                                                                  [c.numpy() for c in codes_q])
    with pytest.raises(ParameterError, match="J <= H=32"):
        NeuralLSH([network], J=33)


@pytest.mark.parametrize("make", [
    lambda g, y: Exact().fit(g),
    lambda g, y: KMeans(7, probes=2, seed=4).fit(g),
    lambda g, y: HyperplaneLSH(100, 3, center=True).fit(g),
    lambda g, y: NeuralLSH([train_network(g, y, H=16, epochs=1)[0]], J=4, L=3).fit(g),
])
def test_save_and_load_give_the_same_candidates(tmp_path, data, make):
    gallery, labels, queries, _ = data
    index = make(gallery, labels)
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    a, b = index.candidates(queries), loaded.candidates(queries)
    assert a.is_all == b.is_all and rows(a) == rows(b)
    assert loaded.params() == index.params()


# Per-epoch (balance, fence, supervision, total) of train_network before its steps stopped synchronising with the host
# (commit a8d03a0, CPU): the device-side statistics must give the same numbers to float tolerance.
NEURAL_REFERENCE = {
    True: [[1.5722748258, 19.6504341472, 1.1408359246, 6.8231472102],
           [1.1177060875, 18.4961670962, 1.303317005, 6.4054889245],
           [0.8640741706, 17.208939639, 1.5158542611, 6.0282460559]],
    False: [[1.5778806643, 16.7045234333, 2.1040461172, 6.3263398951],
            [1.1383194544, 15.5833231319, 1.5465844653, 5.6351268075],
            [0.9647817178, 13.6385485042, 1.7354260683, 5.0751696933]],
}


@pytest.mark.parametrize("standardize", [True, False])
def test_neural_losses_per_epoch_match_the_reference(standardize):
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(6, 48, generator=generator) * 2
    labels = torch.randint(6, (700,), generator=generator)
    x = (centres[labels] + torch.randn(700, 48, generator=generator)).relu()
    _, history = train_network(x, labels, H=32, epochs=3, batch_size=64, seed=3, standardize=standardize)
    ours = [[row[k] for k in ("balance", "fence", "supervision", "total")] for row in history]
    np.testing.assert_allclose(ours, NEURAL_REFERENCE[standardize], rtol=1e-6)


def test_supervision_is_zero_for_a_batch_of_one_label():
    outputs = torch.tanh(torch.randn(8, 16))
    _, _, supervision = loss_terms(outputs, torch.zeros(8, dtype=torch.int64))
    assert supervision.item() == 0.0
