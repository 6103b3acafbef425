"""IVF-RaBitQ (Gao and Long, SIGMOD 2024; FAISS's ``IndexIVFRaBitQ``, FAISS 1.11 and later): the gallery's unit
vectors in ``nlist`` inverted lists (k-means on them), each residual stored as a code of one bit per dimension with
an error bound (RaBitQ's estimator). A query visits its ``nprobe`` nearest lists, scores their codes by RaBitQ's estimated inner
product, and its ``rerank`` best become its candidates, re-ranked exactly by the engine (FAISS's refine). nprobe and
rerank are query-time parameters: one index serves them all (lshbench.methods.ann).
"""

from __future__ import annotations

from .ann import IVFIndex, faiss_module, ivf_checks
from .registry import Method, ParameterError, register, values_of


class RaBitQ(IVFIndex):
    method = "rabitq"

    def __init__(self, nlist: int, nprobe: int = 1, rerank: int = 100, seed: int = 0, device="cpu"):
        super().__init__(seed, device)
        self.nlist, self.nprobe, self.rerank = nlist, nprobe, rerank
        self.check_positive(nlist=nlist, nprobe=nprobe, rerank=rerank)

    def make(self, dim: int, n_gallery: int):
        faiss = faiss_module()
        if not hasattr(faiss, "IndexIVFRaBitQ"):
            raise ImportError(f"rabitq needs FAISS 1.11 or later (IndexIVFRaBitQ); this is {faiss.__version__}")
        if self.nlist > n_gallery:
            raise ParameterError(f"rabitq: nlist={self.nlist} exceeds the {n_gallery} gallery items")
        index = faiss.IndexIVFRaBitQ(faiss.IndexFlatIP(dim), dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = self.seed  # the coarse k-means
        return index

    def params(self) -> dict:
        return {"nlist": self.nlist, "nprobe": self.nprobe, "rerank": self.rerank, "seed": self.seed}


METHOD = register(Method(
    name="rabitq", order=22, title="IVF-RaBitQ", index="RaBitQ", module=__name__, family="quantisation",
    params={"nlist": int, "nprobe": int, "rerank": int},
    grid={"nlist": values_of(int, "inverted lists (coarse k-means clusters)", minimum=1),
          "nprobe": values_of(int, "lists a query visits (query time)", minimum=1),
          "rerank": values_of(int, "shortlist re-ranked exactly per query (query time)", minimum=1)},
    query=("nprobe", "rerank"), axis="nprobe", log_axis=True, series=("nlist", "rerank"), colour="tab:pink",
    checks=ivf_checks(),
))
