"""Validation and test queries: a stratified, seeded split of a dataset's queries (``evaluation.validation_fraction``).

Whatever chooses a configuration (the summary's best per budget, the Pareto-optimal configurations, the pairs of the
significance tests, the retrieval pictures' rows: lshbench.evidence) chooses on the validation queries and reports on
the test queries, so the reported value of a winner is not inflated by the choice (docs/evaluation.md, "Validation
and test queries"). The report's figures and the per-method tables make no choice and keep every query.

The split is a function of the dataset's queries alone (their ids and labels), ``evaluation.validation_fraction`` and
the config's ``seed``: every space and method of a dataset gets the same split, and each configuration's
``per_query.parquet`` records it (its ``split`` column).
"""

from __future__ import annotations

import numpy as np

VALIDATION, TEST = "validation", "test"


def query_split(query_ids, labels, fraction: float, seed: int = 0) -> np.ndarray:
    """Each query's split (``"validation"`` or ``"test"``, in the order given): of each label's queries,
    ``round(fraction * n)`` drawn by ``seed`` go to validation. The draw depends only on the set of (id, label) pairs,
    not on their order."""
    ids = np.asarray(query_ids, dtype=np.int64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} query ids but {len(labels)} labels")
    if not 0 <= fraction < 1:
        raise ValueError(f"evaluation.validation_fraction must be in [0, 1), not {fraction}: the share of each "
                         f"dataset's queries that choose configurations (0: choose on the test queries themselves)")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("query ids repeat: a split needs each query once")
    order = np.lexsort((ids, labels))  # by label, then id: independent of the order given
    rng = np.random.default_rng(seed)
    rank = np.empty(len(ids), dtype=np.float64)
    rank[order] = rng.random(len(ids))  # one draw per query, in (label, id) order
    out = np.full(len(ids), TEST, dtype=object)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = int(round(fraction * len(members)))
        if take:
            out[members[np.argsort(rank[members], kind="stable")[:take]]] = VALIDATION
    return out
