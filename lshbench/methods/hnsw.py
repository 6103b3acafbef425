"""HNSW (Malkov and Yashunin, TPAMI 2020; FAISS's ``IndexHNSWFlat``): a navigable small-world graph over the
gallery's unit vectors, M links per node and layer, built with a beam of ``efConstruction``. A query descends the
layers greedily and searches the bottom one with a beam of ``efSearch`` (query time: one graph serves every value);
the beam's ``efSearch`` nearest, whose distances the graph search computed at full precision, are its candidates,
re-ranked by the engine as every method's are (lshbench.methods.ann).

Deterministic given the data: FAISS draws each node's level from a generator of fixed seed, and the graph is built on
one thread (with several, which node links to which depends on their timing), so it is registered ``randomised=False``
(one run, no seed).
"""

from __future__ import annotations

from .ann import FaissIndex, faiss_module
from .registry import Method, register, values_of


class HNSW(FaissIndex):
    method = "hnsw"

    def __init__(self, M: int, efConstruction: int, efSearch: int = 16, device="cpu"):
        super().__init__(0, device)
        self.M, self.efConstruction, self.efSearch = M, efConstruction, efSearch
        self.check_positive(M=M, efConstruction=efConstruction, efSearch=efSearch)

    def make(self, dim: int, n_gallery: int):
        faiss = faiss_module()
        index = faiss.IndexHNSWFlat(dim, self.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.efConstruction
        return index

    def add(self, x) -> None:
        """On one thread: the same graph on every run."""
        from threadpoolctl import threadpool_limits

        faiss = faiss_module()
        threads = faiss.omp_get_max_threads()
        with threadpool_limits(1, user_api="openmp"):
            faiss.omp_set_num_threads(1)
            try:
                self.index.add(x)
            finally:
                faiss.omp_set_num_threads(threads)

    def check_query(self) -> None:
        self.check_positive(efSearch=self.efSearch)

    def prepare(self) -> None:
        self.index.hnsw.efSearch = self.efSearch

    def depth(self) -> int:
        return self.efSearch

    def statistics(self):
        return faiss_module().cvar.hnsw_stats

    def params(self) -> dict:
        return {"M": self.M, "efConstruction": self.efConstruction, "efSearch": self.efSearch}


METHOD = register(Method(
    name="hnsw", order=21, title="HNSW", index="HNSW", module=__name__, family="graph", randomised=False,
    params={"M": int, "efConstruction": int, "efSearch": int},
    grid={"M": values_of(int, "links per node and layer", minimum=2),
          "efConstruction": values_of(int, "beam while building", minimum=1),
          "efSearch": values_of(int, "beam while searching, and the candidates re-ranked (query time)", minimum=1)},
    query=("efSearch",), axis="efSearch", log_axis=True, series=("M", "efConstruction"), colour="tab:cyan",
))
