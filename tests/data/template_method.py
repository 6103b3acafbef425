"""Projection slabs: the template of a method (docs/methods.md, "Adding a method"), complete and tested
(tests/test_registry.py registers it, runs it through lshbench.batch.run_batch and checks it against brute force).

To add a method, copy this file to ``lshbench/methods/<name>.py`` and change the names and the algorithm; every module
in that folder is imported and registers its ``METHOD``. This one is a toy but a real method: each of L tables
projects the vectors on one random direction (seeded) and cuts that line into B slabs holding equal shares of the
gallery (at its quantiles); a query's candidates are the gallery items sharing its slab in some table.

It subclasses ``Index`` (lshbench/methods/base.py) and keeps buckets of its own; a method whose buckets are codes of
bits subclasses ``HashingIndex`` instead and gives only ``codes`` (see lshbench/methods/hyperplane.py).
"""

from __future__ import annotations

from lshbench.candidates import Candidates, from_pairs, gather_ranges
from lshbench.lazy import lazy_import
from lshbench.methods.base import Index, ParameterError
from lshbench.methods.registry import Method, register, values_of

torch = lazy_import("torch")  # the module level must not use torch: Snakemake parses the config without it


class ProjectionSlabs(Index):
    method = "template"  # the registry entry's name: index.json names it, load_index finds the entry by it

    # Every key params() returns is an argument here: load_index calls cls(**params(), device=...).
    def __init__(self, B: int, L: int, *, seed: int = 0, device="cpu"):
        super().__init__(device)  # sets self.device and self.n_gallery = 0 (0: not fitted)
        if B < 1 or L < 1:
            raise ParameterError(f"projection slabs need B >= 1 and L >= 1 (B={B}, L={L})")  # the job names it
        self.B, self.L, self.seed = B, L, seed

    def params(self) -> dict:
        # The folder parameters with the values of the folder (B=4_L=2 -> 4, 2), then anything else that defines
        # the index: index.json's "params", the columns of metrics.csv, and the arguments of load.
        return {"B": self.B, "L": self.L, "seed": self.seed}

    def fit(self, gallery, labels=None):
        x = gallery.to(self.device, torch.float32)
        generator = torch.Generator().manual_seed(self.seed)  # on the CPU: the same directions on every device
        self.directions = torch.nn.functional.normalize(torch.randn(x.shape[1], self.L, generator=generator), dim=0)
        self.directions = self.directions.to(self.device)
        projections = x @ self.directions  # (N, L)
        shares = torch.linspace(0, 1, self.B + 1, device=self.device)[1:-1]
        self.edges = torch.quantile(projections, shares, dim=0).T.contiguous()  # (L, B - 1), ascending per table
        self.assignment = self._slabs(projections)  # (L, N): each gallery item's slab in each table
        self.n_gallery = len(x)  # the evaluation and _check_queries read it
        self._build_buckets()
        return self

    def _slabs(self, projections):
        return torch.searchsorted(self.edges, projections.T.contiguous(), right=True)  # (L, N) in 0..B-1

    def _build_buckets(self):
        """Members of every slab of every table laid end to end (ascending within a slab) and their offsets."""
        flat = self.assignment + self.B * torch.arange(self.L, device=self.device).unsqueeze(1)  # (L, N)
        self.members = torch.argsort(flat.reshape(-1), stable=True) % self.n_gallery
        counts = torch.bincount(flat.reshape(-1), minlength=self.L * self.B)
        self.offsets = torch.zeros(self.L * self.B + 1, dtype=torch.int64, device=self.device)
        self.offsets[1:] = torch.cumsum(counts, 0)

    def candidates(self, queries) -> Candidates:
        """CSR for a whole block of queries: per query the gallery positions of its slabs, de-duplicated over the
        tables and ascending (the evaluation's stable sort relies on it to break score ties by gallery position)."""
        q = self._check_queries(queries)  # raises when not fitted; moves the block to the device as float32
        slabs = self._slabs(q @ self.directions) + self.B * torch.arange(self.L, device=self.device).unsqueeze(1)
        slabs = slabs.T.reshape(-1)  # (Q * L,): query-major
        starts = self.offsets[slabs]
        owner, ids = gather_ranges(starts, self.offsets[slabs + 1] - starts, self.members)
        return from_pairs(owner // self.L, ids, len(q), self.n_gallery)  # union per query, sorted

    def arrays(self):
        # saved one .npy each; together with params() they are all load() gets
        return {"directions": self.directions, "edges": self.edges, "assignment": self.assignment}

    def load_arrays(self, arrays):
        self.directions = arrays["directions"].to(self.device, torch.float32)
        self.edges = arrays["edges"].to(self.device, torch.float32)
        self.assignment = arrays["assignment"].to(self.device, torch.int64)
        self.n_gallery = self.assignment.shape[1]  # restore every attribute fit() sets, n_gallery included
        self._build_buckets()

    def info(self) -> dict:
        sizes = self.offsets[1:] - self.offsets[:-1]
        return {"largest_slab": int(sizes.max()), "empty_slabs": int((sizes == 0).sum())}  # extra index.json facts


METHOD = register(Method(
    name="template", title="projection slabs", index="ProjectionSlabs", module=__name__,
    params={"B": int, "L": int},  # the folder name B=4_L=2, in this order; each a grid key or a setting
    grid={"B": values_of(int, minimum=1), "L": values_of(int, minimum=1)},  # datasets[].grids.template
    settings={},  # methods.template beside `spaces` (added for every method)
    axis="B",  # the tables' columns and the plot's x axis: a folder parameter of type int
    table="template",  # results/tables/template.{csv,md}
    block=lambda row: f"#Hashtables = {int(row['L'])}",  # a metrics.csv row -> its table block
    series=("L",),  # folder parameters that split the plot into lines
    caption="Projection slabs (the template method): precision@10, precision@50 and mAP in percent, one block per "
            "number of tables L, one column per dataset and number of slabs B.",
))
