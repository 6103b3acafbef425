"""PCA hashing (PCAH; not in the report): the simplest learned-hashing baseline (as in Gong and Lazebnik, CVPR 2011,
and Wang, Kumar and Chang, CVPR 2010, which compare against it). The gallery is centred and projected on its top H
principal directions; bit h is set when the projection on direction h is >= 0 (ITQ's convention), i.e. ITQ without
its rotation. One hash table; a query's candidates are its bucket.

Deterministic given the data (no random draw): registered ``randomised=False``, so each configuration runs once, with
no seed in its folder name.
"""

from __future__ import annotations

from ..lazy import lazy_import
from .hashing import OneTableIndex
from .itq import principal_directions
from .registry import Method, ParameterError, register, values_of

torch = lazy_import("torch")


class PCAH(OneTableIndex):
    method = "pcah"
    title = "PCAH"

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (N, H) bool code (one table): the signs of the centred principal components."""
        return [(x.to(self.device, torch.float32) - self.mean) @ self.directions >= 0]

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None):
        x = gallery.to(self.device, torch.float32)
        if self.H > x.shape[1]:
            raise ParameterError(f"PCAH H={self.H} exceeds the {x.shape[1]} dimensions of this space: choose "
                                 f"H <= {x.shape[1]}")
        self.mean, self.directions = principal_directions(x, self.H)
        self.build_table(x)
        return self

    def arrays(self):
        return {"mean": self.mean, "directions": self.directions, **self.tables.arrays()}

    def load_arrays(self, arrays):
        self.mean, self.directions = arrays["mean"].float(), arrays["directions"].float()
        self.load_tables(arrays)


METHOD = register(Method(
    name="pcah", order=6, title="PCAH", index="PCAH", module=__name__, randomised=False,
    params={"H": int},
    grid={"H": values_of(int, minimum=1, maximum=1024)},
    hamming=lambda bits, settings: {"H": bits},
    axis="H", table="pcah", block=lambda row: "#Hashtables = 1", colour="tab:brown",
    caption="PCA hashing (PCAH; not in the report) in the layout of Figure 2: precision@10, precision@50 and mAP in "
            "percent, one column per dataset and code length H (the signs of the top H centred principal "
            "components, one hash table). Candidates are the query's bucket. Deterministic: one run, no seeds.",
))
