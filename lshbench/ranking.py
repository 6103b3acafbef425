"""What a configuration retrieved, kept so that every metric is derived from it (lshbench/metrics.py) and anyone can
look at it: per query, the top R gallery positions with their cosine similarities (R = ``evaluation.keep_top``), the
number of candidates, and the two sums over the whole candidate list that no top R can give:

* ``n_relevant``: candidates with the query's label;
* ``ap_sum``: sum_i rel_i * P@i over the whole ranked list (AP = ap_sum / n_relevant, AP over all relevant =
  ap_sum / the gallery's items of that label).

``ranking.parquet``: columns query_id (int64), label (int32), n_candidates (int64), n_relevant (int64), ap_sum
(float64), ids (fixed-size list of R int32: gallery positions, rows of the gallery file, -1 past the end of a short
list) and scores (R float32, -inf past the end). File-level metadata under ``lshbench`` (JSON): the configuration's
row of metrics.csv before the metrics (dataset, space, dim, method, params, the index's own params()), n_gallery,
latency_queries, index_bytes. At CIFAR's size (10k queries, R = 100) a file holds 8 MB before compression; at
ImageNet's (50k queries), 40 MB.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .io import METADATA_KEY, atomic_path, unreadable

COLUMNS = ("query_id", "label", "n_candidates", "n_relevant", "ap_sum", "ids", "scores")


@dataclass
class Ranking:
    ids: np.ndarray  # int64 (Q, R), -1 past a short list's end
    scores: np.ndarray  # float32 (Q, R), -inf past a short list's end
    n_candidates: np.ndarray  # int64 (Q,)
    n_relevant: np.ndarray  # int64 (Q,)
    ap_sum: np.ndarray  # float64 (Q,)
    query_ids: np.ndarray | None = None  # int64 (Q,)
    labels: np.ndarray | None = None  # int (Q,)
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.n_candidates)

    @property
    def keep_top(self) -> int:
        return self.ids.shape[1]


def write_ranking(path: str | os.PathLike, ranking: Ranking) -> None:
    q, r = ranking.ids.shape
    table = pa.table(
        {
            "query_id": pa.array(np.asarray(ranking.query_ids, dtype=np.int64)),
            "label": pa.array(np.asarray(ranking.labels, dtype=np.int32)),
            "n_candidates": pa.array(np.asarray(ranking.n_candidates, dtype=np.int64)),
            "n_relevant": pa.array(np.asarray(ranking.n_relevant, dtype=np.int64)),
            "ap_sum": pa.array(np.asarray(ranking.ap_sum, dtype=np.float64)),
            "ids": pa.FixedSizeListArray.from_arrays(pa.array(ranking.ids.astype(np.int32).reshape(-1)), r),
            "scores": pa.FixedSizeListArray.from_arrays(pa.array(ranking.scores.astype(np.float32).reshape(-1)), r),
        }
    ).replace_schema_metadata({METADATA_KEY: json.dumps(ranking.metadata).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_ranking(path: str | os.PathLike) -> Ranking:
    try:
        table = pq.read_table(path)
        metadata = json.loads(table.schema.metadata[METADATA_KEY])
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise ValueError(f"columns {missing} missing")
    except (OSError, pa.ArrowException, ValueError, KeyError, TypeError) as error:
        raise unreadable(path, error) from error
    lists = {}
    for name in ("ids", "scores"):
        column = table.column(name).combine_chunks()
        lists[name] = column.values.to_numpy(zero_copy_only=False).reshape(len(table), column.type.list_size)
    return Ranking(ids=lists["ids"].astype(np.int64), scores=lists["scores"],
                   n_candidates=table.column("n_candidates").to_numpy(),
                   n_relevant=table.column("n_relevant").to_numpy(), ap_sum=table.column("ap_sum").to_numpy(),
                   query_ids=table.column("query_id").to_numpy(), labels=table.column("label").to_numpy(),
                   metadata=metadata)
