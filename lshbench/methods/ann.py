"""What the approximate-nearest-neighbour indexes practitioners use instead of hashing share (IVF-PQ, HNSW,
IVF-RaBitQ, backed by FAISS): the gallery's unit vectors indexed for inner product (on unit vectors, the cosine every
method is re-ranked by), a shortlist per query from FAISS's own search, and that shortlist as the query's candidates,
re-ranked exactly by the evaluation engine, so that every metric means what it means for the other methods.

"Candidates scanned" is the shortlist: the full-precision distances the exact re-ranking computes (FAISS's refine
step, ``IndexRefineFlat`` with ``k_factor`` = shortlist / k). What FAISS evaluated to find it (compressed codes
scanned by an inverted file, graph distances by HNSW: its ``ndis`` statistics) is recorded beside it, per query on
average (``distances_per_query`` in metrics.csv).

The index is saved whole, ``faiss.serialize_index``'s bytes as one uint8 array (``faiss.npy``), and loads back with
``faiss.deserialize_index``; its size is the serialised index's. FAISS's threads follow the job's (``faiss_module``).
"""

from __future__ import annotations

import numpy as np

from ..candidates import Candidates
from ..lazy import lazy_import
from .base import Index
from .registry import ParameterError

torch = lazy_import("torch")


def faiss_module():
    """FAISS, its OpenMP pool at the job's thread count (torch's: lshbench.threads.use sets it from the rule's
    ``threads``). Its wheel brings its own OpenMP library, loaded only here, after the job set its pools."""
    try:
        import faiss
    except ImportError as error:  # a dependency of the package: only a broken environment lacks it
        raise ImportError("faiss is not installed: pip install faiss-cpu (a dependency of lshbench; on a GPU machine "
                          "faiss-gpu works too, see docs/methods.md)") from error
    faiss.omp_set_num_threads(torch.get_num_threads())
    return faiss


def unit(x: torch.Tensor) -> np.ndarray:
    """Rows scaled to unit length, float32, C-contiguous, on the CPU (as the evaluator normalises them)."""
    x = x.detach().to("cpu", torch.float32)
    x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)
    return np.ascontiguousarray(x.numpy())


def as_candidates(ids: np.ndarray, n_gallery: int) -> Candidates:
    """FAISS's (Q, k) result ids (-1: none) as CSR candidates, each query's ascending."""
    ids = torch.from_numpy(np.sort(ids, axis=1))
    valid = ids >= 0
    counts = valid.sum(1)
    offsets = torch.zeros(len(ids) + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(counts, 0)
    return Candidates(offsets, ids[valid].to(torch.int64), len(ids), n_gallery)


class FaissIndex(Index):
    """A FAISS index over the gallery's unit vectors. Subclasses make the index (``make``), its shortlist depth at
    query time (``depth``) and apply their query parameters before a search (``prepare``)."""

    def __init__(self, seed: int = 0, device="cpu"):
        super().__init__(device)
        self.seed = seed
        self.index = None

    def make(self, dim: int, n_gallery: int):
        raise NotImplementedError

    def depth(self) -> int:
        raise NotImplementedError

    def prepare(self) -> None:
        """Apply the query parameters to ``self.index`` before a search."""

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None) -> "FaissIndex":
        x = unit(gallery)
        self.n_gallery = len(x)
        self.index = self.make(x.shape[1], len(x))
        if not self.index.is_trained:
            self.index.train(x)
        self.add(x)
        return self

    def add(self, x: np.ndarray) -> None:
        self.index.add(x)

    def candidates(self, queries: torch.Tensor) -> Candidates:
        self._check_queries(queries)
        self.prepare()
        _, ids = self.index.search(unit(queries), min(self.depth(), self.n_gallery))
        return as_candidates(ids, self.n_gallery)

    def statistics(self):
        """FAISS's statistics object whose ``ndis`` counts the distance evaluations of a search."""
        return None

    def search_statistics(self, queries: torch.Tensor) -> dict:
        """What FAISS evaluated per query to find the shortlists of ``queries`` (metrics.csv's
        ``distances_per_query``): one batch search of them, counted by FAISS's statistics."""
        stats = self.statistics()
        if stats is None:
            return {}
        stats.reset()
        self.candidates(queries)
        return {"distances_per_query": int(stats.ndis) / max(1, len(queries))}

    def arrays(self):
        faiss = faiss_module()
        return {"faiss": torch.from_numpy(np.asarray(faiss.serialize_index(self.index)))}

    def load_arrays(self, arrays):
        faiss = faiss_module()
        self.index = faiss.deserialize_index(np.ascontiguousarray(arrays["faiss"].cpu().numpy()))
        self.n_gallery = int(self.index.ntotal)

    def _check_queries(self, queries):
        if self.index is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(gallery) first")
        return queries

    def check_positive(self, **values) -> None:
        for name, value in values.items():
            if value < 1:
                raise ParameterError(f"{self.method}: {name}={value} must be at least 1")


class IVFIndex(FaissIndex):
    """An inverted file (IVF-PQ, IVF-RaBitQ): a query visits its ``nprobe`` nearest of ``nlist`` lists, and the
    ``rerank`` best of their codes are its candidates."""

    def check_query(self) -> None:
        self.check_positive(nprobe=self.nprobe, rerank=self.rerank)

    def prepare(self) -> None:
        self.index.nprobe = min(self.nprobe, self.nlist)

    def depth(self) -> int:
        return self.rerank

    def statistics(self):
        return faiss_module().cvar.indexIVF_stats


def ivf_checks(nlist_key: str = "nlist"):
    """Parse-time checks of an inverted file's grid: nlist at most the gallery, nprobe at most nlist."""

    def check(settings: dict, grid: dict, sizes: dict | None, where: str) -> None:
        gallery = (sizes or {}).get("gallery")
        for nlist in grid.get(nlist_key, []):
            if gallery is not None and nlist > gallery:
                raise ValueError(f"{where}.{nlist_key}: {nlist} lists exceed the {gallery} gallery images of this "
                                 f"dataset; choose {nlist_key} <= {gallery}")
            for nprobe in grid.get("nprobe", []):
                if nprobe > nlist:
                    raise ValueError(f"{where}.nprobe: {nprobe} exceeds {nlist_key} {nlist}: a query cannot probe "
                                     f"more lists than there are")
    return check
