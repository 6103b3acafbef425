"""Embedding Parquet files: columns id (int64), label (int32), embedding (fixed-size list of float32).

File-level metadata under the key ``lshbench`` (JSON) records where the vectors came from. Files are written to a
temporary name beside the target and renamed when complete, so a killed job never leaves a file that looks complete.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"lshbench"


class UnreadableFile(RuntimeError):
    """An intermediate file is not what it should be (truncated, not Parquet); the message says how to re-create it."""


def unreadable(path: str | os.PathLike, error: Exception, supplied: bool = False) -> UnreadableFile:
    """The error of an unreadable file: an output is re-created with ``--forcerun``; a file the user supplied
    (``supplied``: imported features) is no rule's output, so it has to be replaced."""
    fix = (f"Replace {path} with a whole copy" if supplied
           else f"Re-create it with the same command plus `--forcerun {path}`")
    return UnreadableFile(
        f"{path} cannot be read ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); it is "
        f"truncated or not an lshbench file. {fix}"
    )


@dataclass
class Embeddings:
    ids: np.ndarray  # int64 (N,)
    labels: np.ndarray  # int32 (N,)
    vectors: np.ndarray  # float32 (N, D)
    metadata: dict

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]


def schema(dim: int, metadata: dict) -> pa.Schema:
    return pa.schema(
        [("id", pa.int64()), ("label", pa.int32()), ("embedding", pa.list_(pa.float32(), dim))],
        metadata={METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()},
    )


def _batch(ids: np.ndarray, labels: np.ndarray, vectors: np.ndarray, dim: int) -> pa.RecordBatch:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    return pa.record_batch(
        [
            pa.array(np.asarray(ids, dtype=np.int64)),
            pa.array(np.asarray(labels, dtype=np.int32)),
            pa.FixedSizeListArray.from_arrays(flat, dim),
        ],
        names=["id", "label", "embedding"],
    )


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it only if the block finishes without an exception."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.tmp-*"):  # left by a killed job that owned this name
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class EmbeddingWriter:
    """Streams batches into a Parquet file in row groups of ``row_group_size``; use as a context manager."""

    def __init__(self, path: str | os.PathLike, dim: int, metadata: dict, row_group_size: int = 16384):
        self.path, self.dim, self.row_group_size = Path(path), dim, row_group_size
        self.metadata = metadata
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self.rows = 0

    def __enter__(self) -> "EmbeddingWriter":
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(tmp, schema(self.dim, self.metadata))
        return self

    def write(self, ids: np.ndarray, labels: np.ndarray, vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        self._pending.append((ids, labels, vectors))
        self._pending_rows += len(ids)
        self.rows += len(ids)
        if self._pending_rows >= self.row_group_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        ids, labels, vectors = (np.concatenate(parts) for parts in zip(*self._pending))
        self._writer.write_batch(_batch(ids, labels, vectors, self.dim), row_group_size=len(ids))
        self._pending, self._pending_rows = [], 0

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._flush()
            # what was learnt while writing (rows written, images skipped) goes into the footer's key-value metadata
            self.metadata["rows"] = self.rows
            self._writer.add_key_value_metadata({METADATA_KEY.decode(): json.dumps(self.metadata, sort_keys=True)})
        self._writer.close()
        return self._atomic.__exit__(exc_type, exc, tb)


def write_embeddings(path: str | os.PathLike, emb: Embeddings) -> None:
    with EmbeddingWriter(path, emb.dim, emb.metadata) as writer:
        writer.write(emb.ids, emb.labels, emb.vectors)


def read_metadata(path: str | os.PathLike, supplied: bool = False) -> dict:
    """The ``lshbench`` metadata of an embedding file (the footer's, completed when the file was closed); a file the
    user supplied (imported features) may have none: {}."""
    try:
        raw = pq.read_metadata(path).metadata or {}
    except (OSError, pa.ArrowException) as error:
        raise unreadable(path, error, supplied) from error
    if METADATA_KEY not in raw:
        if supplied:
            return {}
        raise ValueError(f"{path}: not an lshbench embedding file (no '{METADATA_KEY.decode()}' metadata)")
    return json.loads(raw[METADATA_KEY])


class WrongLayout(ValueError):
    """A whole Parquet file whose columns are not lshbench's embedding layout; the message names the column."""


def check_layout(path, schema: pa.Schema) -> None:
    """id and label integer columns and embedding a fixed-size list of floats (lshbench's layout, EmbeddingWriter)."""
    for column in ("id", "label"):
        kind = schema.field(column).type
        if not pa.types.is_integer(kind):
            raise WrongLayout(f"{path}: column '{column}' holds {kind}; {column}s must be integers"
                              + (" (class indices 0..C-1: map class names to integers first)" if column == "label"
                                 else " (each vector's row in its source)"))
    kind = schema.field("embedding").type
    if not pa.types.is_fixed_size_list(kind) or not pa.types.is_floating(kind.value_type):
        raise WrongLayout(f"{path}: column 'embedding' holds {kind}; each vector must be a fixed-size list of floats "
                          f"(pyarrow: pa.list_(pa.float32(), D)), all of one length D")


def read_embeddings(path: str | os.PathLike, supplied: bool = False) -> Embeddings:
    """An embedding file into numpy arrays, one row group at a time into a preallocated (N, D) float32 array: the
    peak is the vectors plus one row group (an ImageNet ResNet-50 gallery is 10.5 GB; reading the whole table and
    then combining its chunks would hold it twice). ``supplied``: the user's file (imported features), whose error
    says to replace it rather than re-create it."""
    try:
        handle = pq.ParquetFile(path)
        names = handle.schema_arrow.names
        missing = {"id", "label", "embedding"} - set(names)
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; expected id, label, embedding")
        check_layout(path, handle.schema_arrow)
        n = handle.metadata.num_rows
        dim = handle.schema_arrow.field("embedding").type.list_size
        ids, labels = np.empty(n, np.int64), np.empty(n, np.int32)
        vectors = np.empty((n, max(dim, 0)), np.float32)
        done = 0
        for group in range(handle.num_row_groups):
            table = handle.read_row_group(group, columns=["id", "label", "embedding"])
            rows = len(table)
            ids[done : done + rows] = table.column("id").to_numpy()
            labels[done : done + rows] = table.column("label").to_numpy()
            for chunk in table.column("embedding").chunks:
                values = chunk.flatten().to_numpy(zero_copy_only=False)
                vectors[done : done + len(chunk)] = values.reshape(len(chunk), dim)
                done += len(chunk)
    except (OSError, pa.ArrowException) as error:
        raise unreadable(path, error, supplied) from error
    if done != n:
        raise unreadable(path, ValueError(f"{done} rows read, the footer says {n}"), supplied)
    return Embeddings(ids=ids, labels=labels, vectors=vectors, metadata=read_metadata(path, supplied))


def write_neighbours(path: str | os.PathLike, query_ids: np.ndarray, neighbours: np.ndarray, scores: np.ndarray) -> None:
    """Exact top-k per query: neighbours are gallery positions (rows of the gallery file), scores cosine similarities."""
    k = neighbours.shape[1]
    table = pa.table({
        "query_id": pa.array(np.asarray(query_ids, dtype=np.int64)),
        "neighbours": pa.FixedSizeListArray.from_arrays(pa.array(neighbours.astype(np.int64).reshape(-1)), k),
        "similarities": pa.FixedSizeListArray.from_arrays(pa.array(scores.astype(np.float32).reshape(-1)), k),
    })
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_neighbours(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query ids, neighbours (Q, k), similarities (Q, k)) as written by write_neighbours."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise unreadable(path, error) from error
    out = [table.column("query_id").to_numpy()]
    for name in ("neighbours", "similarities"):
        column = table.column(name).combine_chunks()
        out.append(column.values.to_numpy(zero_copy_only=False).reshape(len(table), column.type.list_size))
    return tuple(out)


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """The label column of an embedding file alone (the metrics job's need: a fraction of a 10 GB gallery's bytes)."""
    try:
        return pq.read_table(path, columns=["label"]).column("label").to_numpy()
    except (OSError, pa.ArrowException, KeyError) as error:
        raise unreadable(path, error) from error
