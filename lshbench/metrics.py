"""The metrics, derived from what each configuration retrieved (its ranking, lshbench/ranking.py), never from a
rebuild: a registry of per-query measures (``per_query.parquet``'s columns) and of their aggregates over the queries
(``metrics.csv``'s columns). The ``metrics`` job of each (dataset, space, method) computes them from the stored
rankings; adding a measure here re-runs only that job (its code is this module), no index build, no re-ranking.

Ranking: cosine similarity descending, ties broken by gallery position ascending. rel_i = 1 when the i-th ranked
candidate has the query's label; n = the candidates retrieved; R = ``evaluation.keep_top``, the ranks stored. A
measure reads at most ``depth`` stored ranks (<= R, checked) or the sums over the whole list, never more.

* precision@k = sum_{i<=m} rel_i / m with m = min(k, n) (0 when n = 0): the report's convention, by its own numbers
  (CIFAR-100 k-means at K=2000, ~25 images per cluster, still reports P@50 = 37.29); ``strict_precision_at_k`` =
  sum_{i<=k} rel_i / k counts the missing slots of a short list as misses (DeepHash's);
* average precision = sum_i rel_i * P@i / (relevant retrieved), 0 when none is retrieved (the report's and DeepHash's
  convention); ``average_precision_all`` divides the same sum by all gallery items of the query's label;
* recall@k = |top k ∩ exact top k| / k, an item counting as in the exact top k when its similarity reaches the exact
  k-th similarity (less 1e-5 for rounding, so ties count, as ann-benchmarks does);
* nDCG@k with binary relevance: sum_{i<=k} rel_i / log2(i + 1), divided by the same sum of an ideal list (the
  min(k, items of the label) first ranks relevant): a short list's missing ranks count as misses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import filecmp
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .lazy import lazy_import
from .ranking import Ranking

torch = lazy_import("torch")  # the tables that recompute aggregates over a split of the queries need no torch

RECALL_TOLERANCE = 1e-5
NEEDS = ("ids", "scores", "n_candidates", "n_relevant", "ap_sum", "labels", "class_counts", "exact")


@dataclass
class Inputs:
    """What a measure may read: the ranking's arrays as tensors and the facts of the gallery."""

    ranking: Ranking
    relevant: torch.Tensor  # bool (Q, R): rel_i of the stored ranks (False past a short list's end)
    scores: torch.Tensor  # float32 (Q, R)
    n_candidates: torch.Tensor  # int64 (Q,)
    n_relevant: torch.Tensor
    ap_sum: torch.Tensor  # float64
    class_counts: torch.Tensor  # int64 (Q,): gallery items of each query's label
    exact: torch.Tensor | None  # float32 (Q, E): the exact top-E similarities, descending


@dataclass(frozen=True)
class Measure:
    """A per-query measure: a ``per_query.parquet`` column."""

    name: str
    definition: str
    needs: tuple[str, ...]
    compute: Callable[[Inputs], torch.Tensor]
    depth: int = 0  # stored ranks read
    convention: str = ""  # whose definition it follows, where the field's definitions differ


@dataclass(frozen=True)
class Aggregate:
    """A ``metrics.csv`` column: a function of the per-query values and the gallery size, and how the tables show it
    (lshbench.evidence and lshbench.tables read these flags; nothing else names a metric)."""

    name: str
    definition: str
    compute: Callable[[dict, int], float | int]
    of: str | None = None  # the per_query.parquet column it is the mean of (query intervals, values on a split)
    percent: bool = False  # a fraction, shown in percent
    interval: bool = False  # the tables carry its interval over seeds (``{name}_std``, ``_low``, ``_high``)
    criterion: int = 0  # the summary chooses each method's best configuration by it (n-th criterion; 0: not)
    compared: int = 0  # significance compares its per-query column between chosen configurations (n-th; 0: not)
    shown: int = 0  # a column of the summary beside the chosen value (n-th; 0: not)
    late: bool = False  # in metrics.csv after latency_queries and index_bytes (added after them: older columns stay)
    bounds: tuple[float, float] | None = None  # the values it can take (a fraction: 0 and 1); intervals are clipped

    def __post_init__(self):
        if self.percent and self.bounds is None:  # a percentage is a fraction
            object.__setattr__(self, "bounds", (0.0, 1.0))


MEASURES: dict[str, Measure] = {}
AGGREGATES: dict[str, Aggregate] = {}


def measure(name: str, definition: str, needs: tuple[str, ...], depth: int = 0, convention: str = ""):
    """Register a per-query measure (a decorator of its function of ``Inputs``)."""

    def register(compute):
        unknown = [n for n in needs if n not in NEEDS]
        if unknown:
            raise ValueError(f"measure '{name}': needs {unknown} are not among {NEEDS}")
        MEASURES[name] = Measure(name, definition, needs, compute, depth, convention)
        return compute

    return register


def aggregate(name: str, definition: str, compute: Callable[[dict, int], float | int], **flags) -> Aggregate:
    """Register a metrics.csv column (``flags``: the fields of ``Aggregate`` after ``compute``)."""
    AGGREGATES[name] = Aggregate(name, definition, compute, **flags)
    return AGGREGATES[name]


def mean_of(column: str) -> Callable[[dict, int], float]:
    """The mean over the queries (nan where the column was not computed: recall without exact neighbours)."""
    return lambda values, n_gallery: float(values[column].mean()) if column in values else float("nan")


def mean(column: str, **flags) -> Aggregate:
    """Register the mean over the queries of a per-query column as the metrics.csv column of that name."""
    return aggregate(column, f"mean of {column}", mean_of(column), of=column, **flags)


def flagged(flag: str) -> list[Aggregate]:
    """The aggregates with ``flag`` set, in its order (``criterion``, ``compared``, ``shown``) or the registry's."""
    found = [a for a in AGGREGATES.values() if getattr(a, flag)]
    return sorted(found, key=lambda a: getattr(a, flag)) if flag in ("criterion", "compared", "shown") else found


# --- per-query measures, in per_query.parquet's order -----------------------------------------------------------
@measure("average_precision", "sum_i rel_i P@i / relevant retrieved (0 when none)", ("n_relevant", "ap_sum"),
         convention="the report's and DeepHash's (mAP@R over the retrieved list)")
def _average_precision(x: Inputs) -> torch.Tensor:
    return torch.where(x.n_relevant > 0, x.ap_sum / x.n_relevant.clamp_min(1), 0)


@measure("average_precision_all", "sum_i rel_i P@i / the gallery's items of the label", ("ap_sum", "class_counts"),
         convention="the classic AP over the whole gallery (unretrieved relevant items count as misses)")
def _average_precision_all(x: Inputs) -> torch.Tensor:
    return x.ap_sum / x.class_counts.clamp_min(1)


def _precision(k: int, strict: bool):
    def compute(x: Inputs) -> torch.Tensor:
        hits = x.relevant[:, :k].sum(1, dtype=torch.float64)
        if strict:
            return hits / k
        shown = x.n_candidates.clamp_max(k)
        return torch.where(shown > 0, hits / shown.clamp_min(1), 0)

    return compute


for _k in (10, 50):
    measure(f"precision_at_{_k}", f"relevant among the first min({_k}, n) / min({_k}, n)",
            ("ids", "labels", "n_candidates"), _k, convention="the report's")(_precision(_k, strict=False))
    measure(f"strict_precision_at_{_k}", f"relevant among the first {_k} / {_k}", ("ids", "labels"), _k,
            convention="DeepHash's (a short list's missing slots are misses)")(_precision(_k, strict=True))


def _recall(k: int):
    def compute(x: Inputs) -> torch.Tensor:
        kth = x.exact[:, min(k, x.exact.shape[1]) - 1].unsqueeze(1) - RECALL_TOLERANCE
        return (x.scores[:, :k] >= kth).sum(1, dtype=torch.float64) / k

    return compute


for _k in (10, 50):
    measure(f"recall_at_{_k}", f"share of the exact top {_k} among the first {_k} (ties count)", ("scores", "exact"),
            _k, convention="ann-benchmarks' (similarity within 1e-5 of the exact k-th counts)")(_recall(_k))


@measure("n_candidates", "candidates retrieved (the union of the query's buckets)", ("n_candidates",))
def _n_candidates(x: Inputs) -> torch.Tensor:
    return x.n_candidates


@measure("precision_at_100", "relevant among the first min(100, n) / min(100, n)", ("ids", "labels", "n_candidates"),
         100, convention="the report's")
def _precision_at_100(x: Inputs) -> torch.Tensor:
    return _precision(100, strict=False)(x)


@measure("ndcg_at_10", "binary-relevance nDCG of the first 10 (ideal: min(10, items of the label) hits first)",
         ("ids", "labels", "class_counts"), 10, convention="binary relevance, ideal over the gallery")
def _ndcg_at_10(x: Inputs) -> torch.Tensor:
    k = 10
    discount = 1 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    top = x.relevant[:, :k].to(torch.float64)
    dcg = (top * discount[: top.shape[1]]).sum(1)
    ideal = torch.cumsum(discount, 0)[(x.class_counts.clamp(1, k) - 1)]
    return torch.where(x.class_counts > 0, dcg / ideal, 0)


# --- metrics.csv's columns, in order --------------------------------------------------------------------------------
mean("precision_at_10", percent=True, interval=True, compared=2, shown=3)
mean("precision_at_50", percent=True, interval=True)
mean("strict_precision_at_10", percent=True, interval=True)
mean("strict_precision_at_50", percent=True, interval=True)
aggregate("mAP", "mean of average_precision", mean_of("average_precision"), of="average_precision", percent=True,
          interval=True)
aggregate("mAP_all", "mean of average_precision_all", mean_of("average_precision_all"), of="average_precision_all",
          percent=True, interval=True, criterion=2, compared=1, shown=2)
mean("recall_at_10", percent=True, interval=True, criterion=1, compared=3, shown=1)
mean("recall_at_50", percent=True, interval=True)
aggregate("mean_candidates", "mean of n_candidates", mean_of("n_candidates"))
aggregate("candidates_fraction", "mean of n_candidates / gallery size",
          lambda values, n_gallery: float(values["n_candidates"].mean()) / n_gallery, interval=True,
          bounds=(0.0, 1.0))
aggregate("queries_without_candidates", "queries with no candidate",
          lambda values, n_gallery: int((values["n_candidates"] == 0).sum()))
mean("precision_at_100", late=True)
mean("ndcg_at_10", late=True)


def _tensor(array) -> torch.Tensor:
    """A tensor over the array's memory (copied first when it is read-only, as arrays read from Parquet can be)."""
    return torch.from_numpy(np.require(np.asarray(array), requirements="W"))


def depth() -> int:
    """The stored ranks the registered measures read: evaluation.keep_top must be at least this."""
    return max(m.depth for m in MEASURES.values())


def per_query(ranking: Ranking, gallery_labels: np.ndarray, exact_scores: np.ndarray | None) -> dict[str, np.ndarray]:
    """Every registered measure of every query (measures that need the exact neighbours are left out without
    them)."""
    if ranking.keep_top < depth():
        deep = [m.name for m in MEASURES.values() if m.depth > ranking.keep_top]
        raise ValueError(f"the ranking keeps the top {ranking.keep_top} per query, but {deep} read the top "
                         f"{depth()}: set evaluation.keep_top to at least {depth()} (it re-runs the method jobs)")
    labels = _tensor(gallery_labels).to(torch.int64)
    query_labels = _tensor(ranking.labels).to(torch.int64)
    padded = torch.cat([labels, labels.new_tensor([-1])])  # position -1 = padding, never relevant
    classes = int(max(labels.max(), query_labels.max())) + 1
    scores, ids = _tensor(ranking.scores), _tensor(ranking.ids)
    inputs = Inputs(
        ranking=ranking,
        relevant=(padded[ids] == query_labels.unsqueeze(1)) & (scores > float("-inf")),
        scores=scores,
        n_candidates=_tensor(ranking.n_candidates),
        n_relevant=_tensor(ranking.n_relevant),
        ap_sum=_tensor(ranking.ap_sum),
        class_counts=torch.bincount(labels, minlength=classes)[query_labels],
        exact=None if exact_scores is None else _tensor(np.asarray(exact_scores, dtype=np.float32)),
    )
    return {name: m.compute(inputs).numpy() for name, m in MEASURES.items()
            if "exact" not in m.needs or inputs.exact is not None}


def summary(values: dict[str, np.ndarray], n_gallery: int) -> dict:
    """metrics.csv's metric columns from the per-query values."""
    return {name: a.compute(values, n_gallery) for name, a in AGGREGATES.items()}


def metrics_row(ranking: Ranking, values: dict[str, np.ndarray]) -> dict:
    """A configuration's metrics.csv row: its description (from the ranking's metadata), then the metrics."""
    meta = ranking.metadata
    means = summary(values, meta["n_gallery"])
    early = {k: v for k, v in means.items() if not AGGREGATES[k].late}
    late = {k: v for k, v in means.items() if AGGREGATES[k].late}
    return {**meta["row"], "n_queries": len(ranking), "n_gallery": meta["n_gallery"], **early,
            "latency_queries": meta["latency_queries"], "index_bytes": meta["index_bytes"], **late}


def evaluate(evaluator, index, keep_top: int = 100, latency_queries: int = 200, progress: bool = False,
             search: bool = True) -> tuple[dict, dict]:
    """Rank every query with ``evaluator`` (lshbench.evaluate.Evaluator) and derive the metrics: (per-query values,
    the means with the timings), as a method job and then its metrics job would; ``search``: time the search too
    (Evaluator.rankings)."""
    ranking, timings = evaluator.rankings(index, keep_top=max(keep_top, depth()), latency_queries=latency_queries,
                                          progress=progress, search=search)
    exact = None if evaluator.exact_scores is None else evaluator.exact_scores.cpu().numpy()
    values = per_query(ranking, evaluator.gallery_labels.cpu().numpy(), exact)
    out = {"n_queries": len(ranking), "n_gallery": evaluator.n_gallery, **summary(values, evaluator.n_gallery),
           **timings}
    return values, out


def write_metrics(folder: str | os.PathLike, ranking: Ranking, gallery_labels: np.ndarray,
                  exact_scores: np.ndarray | None, split: np.ndarray) -> dict:
    """A configuration's metrics.csv (what it is and its means over every query) and per_query.parquet, derived from
    its ranking: the metrics job's work. ``split``: each query's split (lshbench.split), per_query.parquet's
    ``split`` column. Each is written to a temporary file and replaces the old one only when its bytes differ, so
    the files of configurations that did not change keep their times. Returns the metrics.csv row."""
    folder = Path(folder)
    values = per_query(ranking, gallery_labels, exact_scores)
    if len(split) != len(ranking):
        raise ValueError(f"{folder}: {len(split)} query splits for {len(ranking)} ranked queries")
    frame = pd.DataFrame({"query_id": ranking.query_ids, "label": ranking.labels,
                          "split": np.asarray(split, dtype=str), **values})
    replace_if_changed(folder / "per_query.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    row = metrics_row(ranking, values)
    replace_if_changed(folder / "metrics.csv", lambda tmp: pd.DataFrame([row]).to_csv(tmp, index=False))
    return row


def replace_if_changed(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, which replaces ``path`` only when the bytes differ."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        if not (path.is_file() and filecmp.cmp(tmp, path, shallow=False)):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
