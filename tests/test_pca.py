import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from lshbench.config import parse_pca_space, pca_space_names
from lshbench.pca import fit_pca


@pytest.fixture
def gallery():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(300, 40)) @ rng.normal(size=(40, 40)) * np.linspace(3, 0.1, 40)).astype(np.float32)


def test_matches_scikit_learn_up_to_sign(gallery):
    ours = fit_pca(gallery)
    reference = SkPCA(n_components=10, svd_solver="full").fit(gallery)
    # scikit-learn computes in the data's float32 (eps 1.2e-7; its SVD's error reached 1.3e-6 relative here), ours in
    # float64
    np.testing.assert_allclose(ours.explained_variance_ratio[:10].numpy(), reference.explained_variance_ratio_,
                               rtol=1e-5)
    projected = ours.transform(torch.from_numpy(gallery), 10).numpy()
    expected = reference.transform(gallery)
    signs = np.sign((projected * expected).sum(0))
    np.testing.assert_allclose(projected, expected * signs, atol=1e-3)


def test_variance_target_matches_scikit_learn(gallery):
    for target in (0.5, 0.9, 0.95):
        assert fit_pca(gallery).n_components_for(target) == SkPCA(n_components=target, svd_solver="full").fit(
            gallery).n_components_


def test_space_names_round_trip():
    model = {"name": "resnet18", "pca": {"dims": [248], "variance": [0.95, 0.975]}}
    names = pca_space_names(model)
    assert names == ["resnet18-pca248", "resnet18-pcavar95", "resnet18-pcavar97.5"]
    assert parse_pca_space(names[0]) == ("resnet18", "dims", 248)
    assert parse_pca_space(names[2]) == ("resnet18", "variance", pytest.approx(0.975))
