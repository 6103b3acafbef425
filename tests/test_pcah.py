"""PCA hashing: codes agree with a NumPy PCA-and-sign transcription, bits are balanced on real data, buckets are
exact, a saved index loads back, and the method runs once (deterministic: no seed)."""

from pathlib import Path

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


def test_deterministic_methods_run_through_the_workflow_path_beside_a_seeded_one(tmp_path, monkeypatch):
    """run_batch (the run_method job's code) builds PCAH and spectral hashing once per H, with no seed in folders,
    params or metrics; a second run keeps them; the tables and the evidence take them beside ITQ's two replicates
    (one replicate: no seed interval)."""

    import pandas as pd

    from builders import write_clustered_space
    from lshbench.batch import run_batch
    from lshbench.layout import Key, configuration_folder
    from lshbench.metrics import write_metrics
    from lshbench.split import query_split
    from lshbench.ranking import read_ranking
    from lshbench import report

    monkeypatch.chdir(tmp_path)
    gallery, query, exact = write_clustered_space(tmp_path)
    jobs = {}
    for name, grid, settings in [("pcah", {"H": [4, 8]}, {}), ("spectral", {"H": [4, 8]}, {}),
                                 ("itq", {"H": [4], "L": [1]}, {"iterations": 50})]:
        entry = REGISTRY[name]
        configs = [Key.of("toy", "raw", name, p) for p in entry.plan(grid, settings, [0, 1])]
        jobs[name] = (configs, entry.build_settings(settings, grid))
    assert [c.folder for c in jobs["pcah"][0]] == ["H=4", "H=8"]
    assert [c.folder for c in jobs["itq"][0]] == ["H=4_L=1_seed=0", "H=4_L=1_seed=1"]

    def run(name):
        configs, settings = jobs[name]
        return [row["status"] for row in run_batch(
            configs, gallery=gallery, query=query, exact_scores=exact, settings=settings, seed=0,
            inputs={"gallery": "gallery.parquet", "query": "query.parquet"}, device=torch.device("cpu"),
            memory_mb=64, latency_queries=5, progress=False)]

    for name, (configs, _) in jobs.items():
        assert run(name) == ["built"] * len(configs)
        for config in configs:
            folder = Path(configuration_folder(config))
            write_metrics(folder, read_ranking(folder / "ranking.parquet"),
                          gallery.labels, exact, query_split(query.ids, query.labels, 0.2))
    assert run("pcah") == ["kept", "kept"] and run("spectral") == ["kept", "kept"]
    row = pd.read_csv("results/toy/metrics/raw/spectral/H=8/metrics.csv").iloc[0]
    assert row["H"] == 8 and "seed" not in row
    assert load_index("results/toy/index/raw/pcah/H=4").params() == {"H": 4}

    keys = tuple(k for configs, _ in jobs.values() for k in configs)
    both = ("metrics.csv", "per_query.parquet")

    def make(function, own=keys):
        return function(report.Entry("table", function, "", "", keys=own, files=both, datasets=("toy",)), ".")

    figure = make(report.figure("pcah"), tuple(k for k in keys if k.method == "pcah"))
    assert list(figure.columns[-2:]) == ["toy H=4", "toy H=8"] and set(figure["block"]) == {"#Hashtables = 1"}
    ci = make(report.figure_ci("spectral"), tuple(k for k in keys if k.method == "spectral"))
    assert set(ci["seeds"]) == {1} and ci["seed_ci_low"].isna().all() and ci["query_ci_low"].notna().all()
    pareto = make(report.pareto)
    assert {"pcah", "spectral", "itq"} <= set(pareto["method"])
    assert set(pareto.loc[pareto["method"] == "itq", "seeds"]) == {2}
    assert set(pareto.loc[pareto["method"] == "pcah", "configuration"]) <= {"H=4", "H=8"}
    summary = make(report.summary)
    assert {"pcah", "spectral", "itq"} <= set(summary["method"])
