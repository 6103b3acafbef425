"""Multi-probe random-hyperplane LSH (not in the report): the hyperplane tables of ``hyperplane.py``, and a query
also visits, in each table, the buckets whose codes differ from its own in at most ``probes_radius`` bits (1 or 2;
0 is plain hyperplane LSH), as FALCONN's and Lv et al.'s (VLDB 2007) multi-probe LSH do, here with every code within
the radius rather than a query-adaptive subset. Probing buys candidates from few tables instead of many: the
trade-off plots set it against more tables.

With H bits a query probes 1 + H (+ H (H - 1) / 2) codes per table; the lookups are exact (the buckets of
``hashing.HashTables``), queries are processed in chunks so the probes of one chunk stay within a fixed budget.
"""

from __future__ import annotations

import itertools

from ..candidates import BucketCandidates, Candidates, from_pairs
from ..lazy import lazy_import
from .hyperplane import HyperplaneLSH
from .registry import Method, ParameterError, register, values_of

torch = lazy_import("torch")


def probe_masks(H: int, radius: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """(P, H) bool: every set of at most ``radius`` of the H bits (the empty set first), P = sum_r C(H, r)."""
    masks = [torch.zeros(H, dtype=torch.bool)]
    for r in range(1, radius + 1):
        for bits in itertools.combinations(range(H), r):
            mask = torch.zeros(H, dtype=torch.bool)
            mask[list(bits)] = True
            masks.append(mask)
    return torch.stack(masks).to(device)


class MultiProbeLSH(HyperplaneLSH):
    method = "multiprobe"

    def __init__(self, H: int, L: int, *, probes_radius: int = 1, center: bool = True, seed: int = 0,
                 device: str | torch.device = "cpu", probe_budget: int = 1 << 16):
        super().__init__(H, L, center=center, seed=seed, device=device)
        if not 0 <= probes_radius <= H:
            raise ParameterError(f"multi-probe LSH needs 0 <= probes_radius <= H (probes_radius={probes_radius}, "
                                 f"H={H})")
        self.probes_radius = probes_radius
        self.masks = probe_masks(H, probes_radius, self.device)
        self.probe_budget = probe_budget  # probed codes per table and chunk of queries

    def check_query(self) -> None:
        if not 0 <= self.probes_radius <= self.H:
            raise ParameterError(f"multi-probe LSH needs 0 <= probes_radius <= H (probes_radius={self.probes_radius}, "
                                 f"H={self.H})")
        self.masks = probe_masks(self.H, self.probes_radius, self.device)

    def params(self) -> dict:
        return {"H": self.H, "L": self.L, "probes_radius": self.probes_radius, "center": self.center,
                "seed": self.seed}

    def candidates(self, queries: torch.Tensor) -> Candidates:
        """The union over tables and probes of the buckets hit, per query (CSR, ascending)."""
        q = self._check_queries(queries)
        codes = self.codes(q)
        n_probes = len(self.masks)
        step = max(1, self.probe_budget // n_probes)
        offsets, ids = [torch.zeros(1, dtype=torch.int64, device=self.device)], []
        for start in range(0, len(q), step):
            chunk = [(c[start : start + step, None, :] ^ self.masks[None]).reshape(-1, self.H) for c in codes]
            found = self.tables.lookup(chunk)  # one row per (query, probe)
            if found.mask is not None:
                rows, members = torch.nonzero(found.mask, as_tuple=True)
            else:
                rows = torch.repeat_interleave(torch.arange(found.n_queries, device=self.device), found.counts())
                members = found.ids
            size = len(chunk[0]) // n_probes
            merged = from_pairs(rows // n_probes, members, size, self.n_gallery)
            offsets.append(merged.offsets[1:] + offsets[-1][-1])
            ids.append(merged.ids)
        return Candidates(torch.cat(offsets), torch.cat(ids), len(q), self.n_gallery)

    def hits(self, queries: torch.Tensor) -> BucketCandidates:
        """Every (table, probe) bucket hit: the probes of one query in one table are distinct codes, so distinct
        buckets (lshbench.search)."""
        q = self._check_queries(queries)
        n_probes = len(self.masks)
        found = self.tables.hits([(c[:, None, :] ^ self.masks[None]).reshape(-1, self.H) for c in self.codes(q)])
        found.query = found.query // n_probes
        found.n_queries = len(q)
        return found

    def one_query_lists(self, query: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """One query's (1, D) buckets, every probe of every table (lshbench.search.one_query_lists)."""
        codes = self.codes(self._check_queries(query))
        return self.tables.one_query_lists([(c[:, None, :] ^ self.masks[None]).reshape(-1, self.H) for c in codes])

    def bucket_candidates(self, queries: torch.Tensor) -> Candidates:
        """The merged lists (probing hits many small buckets: scoring them bucket by bucket does not pay)."""
        return self.candidates(queries)

    def info(self):
        return {**super().info(), "probes_per_table": len(self.masks)}


def _multiprobe_block(row) -> str:
    label = f"#Hashtables = {int(row['L'])}, radius {int(row['probes_radius'])}"
    return label if str(row["center"]).lower() == "true" else label + " (uncentred)"


def _multiprobe_checks(settings: dict, grid: dict, sizes: dict | None, where: str) -> None:
    for radius in grid.get("probes_radius", []):
        if radius > min(grid.get("H", [radius])):
            raise ValueError(f"{where}.probes_radius: {radius} exceeds the smallest H {min(grid['H'])}")


METHOD = register(Method(
    name="multiprobe", order=5, title="multi-probe hyperplane LSH", index="MultiProbeLSH", module=__name__,
    params={"H": int, "L": int, "probes_radius": int, "center": bool},
    grid={"H": values_of(int, minimum=1, maximum=1024), "L": values_of(int, minimum=1, maximum=64),
          "probes_radius": {**values_of(int, minimum=0, maximum=2), "default": [1, 2],
                            "description": "buckets within this Hamming distance of the query's code are probed "
                                          "(0: plain hyperplane LSH, the reference)"}},
    settings={"center": {**values_of(bool), "default": [True],
                         "description": "subtract the gallery mean before hashing (true: uncentred hyperplanes put "
                                        "ResNet features into a few buckets, where probing adds little)"}},
    configurations=lambda grid, settings: [
        {"H": H, "L": L, "probes_radius": radius, "center": center}
        for L in grid["L"] for H in grid["H"] for radius in grid["probes_radius"] for center in settings["center"]],
    checks=_multiprobe_checks, query=("probes_radius",),
    axis="H", table="multiprobe", block=_multiprobe_block, series=("L", "probes_radius", "center"),
    colour="tab:red",
    caption="Multi-probe hyperplane LSH (not in the report) in the layout of Figure 2: precision@10, precision@50 "
            "and mAP in percent, one block per number of tables L and probing radius (the query's buckets and those "
            "within that Hamming distance in each table), one column per dataset and number of hyperplanes H.",
))
