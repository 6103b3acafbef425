"""IVF-PQ (Jégou, Douze and Schmid, TPAMI 2011; FAISS's ``IndexIVFPQ``): the gallery's unit vectors in ``nlist``
inverted lists (k-means on them), each vector stored as a product-quantised code of M sub-vectors of ``nbits`` bits
(its residual to its list's centroid). A query visits its ``nprobe`` nearest lists, scores their codes by the
quantised inner product, and its ``rerank`` best become its candidates, re-ranked exactly by the engine (FAISS's
refine, ``IndexRefineFlat`` with ``k_factor`` = rerank / k). nprobe and rerank are query-time parameters: one index
serves them all (lshbench.methods.ann).
"""

from __future__ import annotations

from .ann import IVFIndex, faiss_module, ivf_checks
from .registry import Method, ParameterError, register, values_of


class IVFPQ(IVFIndex):
    method = "ivfpq"

    def __init__(self, nlist: int, M: int, nbits: int, nprobe: int = 1, rerank: int = 100, seed: int = 0,
                 device="cpu"):
        super().__init__(seed, device)
        self.nlist, self.M, self.nbits, self.nprobe, self.rerank = nlist, M, nbits, nprobe, rerank
        self.check_positive(nlist=nlist, M=M, nprobe=nprobe, rerank=rerank)
        if not 1 <= nbits <= 16:
            raise ParameterError(f"ivfpq: nbits={nbits} is outside FAISS's range 1-16 bits per sub-quantiser")

    def make(self, dim: int, n_gallery: int):
        faiss = faiss_module()
        if dim % self.M:
            raise ParameterError(f"ivfpq: M={self.M} does not divide the dimension {dim} of this space: choose M "
                                 f"among the divisors of {dim}")
        if self.nlist > n_gallery:
            raise ParameterError(f"ivfpq: nlist={self.nlist} exceeds the {n_gallery} gallery items")
        if 2**self.nbits > n_gallery:
            raise ParameterError(f"ivfpq: nbits={self.nbits} trains {2**self.nbits} centroids per sub-quantiser, more "
                                 f"than the {n_gallery} gallery items: choose nbits <= {n_gallery.bit_length() - 1}")
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, self.nlist, self.M, self.nbits,
                                 faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = self.seed  # the coarse k-means
        index.pq.cp.seed = self.seed  # the sub-quantisers' k-means
        return index

    def params(self) -> dict:
        return {"nlist": self.nlist, "M": self.M, "nbits": self.nbits, "nprobe": self.nprobe, "rerank": self.rerank,
                "seed": self.seed}


def _checks(settings: dict, grid: dict, sizes: dict | None, where: str) -> None:
    ivf_checks()(settings, grid, sizes, where)
    gallery = (sizes or {}).get("gallery")
    for nbits in grid.get("nbits", []):
        if not 1 <= nbits <= 16:
            raise ValueError(f"{where}.nbits: {nbits} is outside FAISS's range 1-16 bits per sub-quantiser")
        if gallery is not None and 2**nbits > gallery:
            raise ValueError(f"{where}.nbits: {nbits} bits train {2**nbits} centroids per sub-quantiser, more than "
                             f"the {gallery} gallery images of this dataset; choose nbits <= {gallery.bit_length() - 1}")
    for dim in (sizes or {}).get("dims", {}).values():
        for M in grid.get("M", []):
            if dim is not None and dim % M:
                raise ValueError(f"{where}.M: {M} does not divide the dimension {dim} of a space it runs on; choose "
                                 f"M among the divisors of {dim}")


METHOD = register(Method(
    name="ivfpq", order=20, title="IVF-PQ", index="IVFPQ", module=__name__, family="quantisation",
    params={"nlist": int, "M": int, "nbits": int, "nprobe": int, "rerank": int},
    grid={"nlist": values_of(int, "inverted lists (coarse k-means clusters)", minimum=1),
          "M": values_of(int, "sub-quantisers (must divide the dimension)", minimum=1),
          "nbits": values_of(int, "bits per sub-quantiser code (FAISS: 1-16; 8 is the fast default)", minimum=1,
                             maximum=16),
          "nprobe": values_of(int, "lists a query visits (query time)", minimum=1),
          "rerank": values_of(int, "shortlist re-ranked exactly per query (query time)", minimum=1)},
    query=("nprobe", "rerank"), axis="nprobe", log_axis=True, series=("nlist", "M", "rerank"), colour="tab:olive",
    checks=_checks,
))
