"""Method 2 of the report: random-hyperplane LSH (Charikar, 2002). H Gaussian hyperplanes per table, L tables; a
code is the sign pattern of the dot products; a query's candidates are the union of its buckets over the tables."""

from __future__ import annotations

from ..lazy import lazy_import

from .base import ParameterError
from .hashing import HashingIndex, HashTables
from .registry import Method, register, values_of

torch = lazy_import("torch")


class HyperplaneLSH(HashingIndex):
    method = "hyperplane"

    def __init__(self, H: int, L: int, *, center: bool = False, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(device)
        if H < 1 or L < 1:
            raise ParameterError(f"hyperplane LSH needs H >= 1 and L >= 1 (H={H}, L={L})")
        self.H, self.L, self.center, self.seed = H, L, center, seed

    def params(self) -> dict:
        return {"H": self.H, "L": self.L, "center": self.center, "seed": self.seed}

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (N, H) bool code per table: bit h is set when the vector lies on the positive side of hyperplane h."""
        x = x.to(self.device, torch.float32) - self.mean
        signs = (x @ self.hyperplanes.permute(1, 0, 2).reshape(x.shape[1], -1)) > 0  # all tables in one product
        return list(signs.view(len(x), self.L, self.H).unbind(1))

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None):
        x = gallery.to(self.device, torch.float32)
        generator = torch.Generator().manual_seed(self.seed)
        self.hyperplanes = torch.randn(self.L, x.shape[1], self.H, generator=generator).to(self.device)
        # ResNet features are non-negative (post-ReLU): without centring, most codes share their bits (report: off)
        self.mean = x.mean(0) if self.center else torch.zeros(x.shape[1], device=self.device)
        self.n_gallery = len(x)
        self.tables = HashTables.build(self.codes(x))
        return self

    def arrays(self):
        return {"hyperplanes": self.hyperplanes, "mean": self.mean, **self.tables.arrays()}

    def load_arrays(self, arrays):
        self.hyperplanes, self.mean = arrays["hyperplanes"].float(), arrays["mean"].float()
        self.load_tables(arrays)


def _hyperplane_block(row) -> str:
    label = f"#Hashtables = {int(row['L'])}"
    return label + " (centred)" if str(row["center"]).lower() == "true" else label


METHOD = register(Method(
    name="hyperplane", order=2, title="random-hyperplane LSH", index="HyperplaneLSH", module=__name__,
    params={"H": int, "L": int, "center": bool},
    grid={"H": values_of(int, minimum=1, maximum=1024), "L": values_of(int, minimum=1, maximum=64)},
    settings={"center": {**values_of(bool), "default": [False],
                         "description": "subtract the gallery mean before hashing (the report: false)"}},
    # L, then H, then centring: the report's order (one block per L)
    configurations=lambda grid, settings: [{"H": H, "L": L, "center": center} for L in grid["L"] for H in grid["H"]
                                           for center in settings["center"]],
    # the literature's LSH baseline (sign random projections): one table of B hyperplanes through the gallery mean, as
    # PCAH, ITQ and spectral hashing centre the data too
    hamming=lambda bits, settings: {"H": bits, "L": 1, "center": True},
    axis="H", table="figure2_hyperplane", block=_hyperplane_block, series=("L", "center"), colour="tab:orange",
    caption="The report's Figure 2 (random-hyperplane LSH) in its layout: precision@10, precision@50 and mAP in "
            "percent, one block per number of hash tables L, one column per dataset and number of hyperplanes H. "
            "Candidates are the union of the query's buckets over the L tables.",
))
