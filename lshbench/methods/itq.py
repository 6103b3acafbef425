"""Iterative Quantization (Gong and Lazebnik, CVPR 2011; not in the report): the classic learned-hashing baseline.

The gallery is centred and projected on its top H principal directions (V = (X - mean) W), then an orthogonal
rotation R is learned that brings V R close to binary codes: alternately B = sign(V R) and R = the orthogonal
Procrustes solution of min ||B - V R||_F (SVD of V^T B = U S Z^T, R = U Z^T), 50 iterations. Codes are the signs of
V R. Each of the L tables starts from its own random orthogonal rotation (seed + table), so the tables differ by the
local optimum they reach; a query's candidates are the union of its buckets, as for random hyperplanes.

The quantisation loss ||B - V R||_F^2 cannot increase from one iteration to the next (each step minimises it over
one of B and R); index.json records it per iteration and table, with the share of gallery codes that set each bit.
"""

from __future__ import annotations

from ..lazy import lazy_import
from .hashing import HashingIndex, HashTables
from .registry import Method, ParameterError, register, values_of

torch = lazy_import("torch")


def principal_directions(x: torch.Tensor, H: int, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean of x (N, D) and its top H principal directions (D, H), by eigh of the float64 covariance; returned
    as float32, or as ``dtype`` (spectral hashing keeps float64, as the authors' double-precision code)."""
    mean = x.mean(0, dtype=torch.float64)
    centred = x.double() - mean
    covariance = centred.T @ centred / max(len(x) - 1, 1)
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    directions = vectors[:, -H:].flip(1)
    # a fixed sign per direction (largest entry positive): the same directions on every machine
    signs = torch.sign(directions.gather(0, directions.abs().argmax(0, keepdim=True)))
    dtype = dtype or torch.float32
    return mean.to(dtype), (directions * signs).to(dtype)


def random_rotation(H: int, generator: torch.Generator) -> torch.Tensor:
    """A random orthogonal (H, H) matrix: Q of the QR of a Gaussian matrix, signs fixed by R's diagonal."""
    q, r = torch.linalg.qr(torch.randn(H, H, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def itq_rotation(v: torch.Tensor, rotation: torch.Tensor, iterations: int) -> tuple[torch.Tensor, list[float]]:
    """Gong and Lazebnik's alternation from ``rotation``; returns the final rotation and the quantisation loss
    ||sign(V R) - V R||_F^2 before each update and after the last (iterations + 1 values)."""
    v64, rotation = v.double(), rotation.to(v.device, torch.float64)
    losses = []
    for _ in range(iterations):
        projected = v64 @ rotation
        codes = torch.where(projected >= 0, 1.0, -1.0).to(projected.dtype)
        losses.append(torch.linalg.matrix_norm(codes - projected).square())
        u, _, zt = torch.linalg.svd(v64.T @ codes)
        rotation = u @ zt
    projected = v64 @ rotation
    codes = torch.where(projected >= 0, 1.0, -1.0).to(projected.dtype)
    losses.append(torch.linalg.matrix_norm(codes - projected).square())
    return rotation.float(), torch.stack(losses).tolist()  # one host transfer for all iterations


class ITQ(HashingIndex):
    method = "itq"

    def __init__(self, H: int, L: int, *, iterations: int = 50, seed: int = 0, device: str | torch.device = "cpu"):
        super().__init__(device)
        if H < 1 or L < 1 or iterations < 0:
            raise ParameterError(f"ITQ needs H >= 1, L >= 1 and iterations >= 0 (H={H}, L={L}, "
                                 f"iterations={iterations})")
        self.H, self.L, self.iterations, self.seed = H, L, iterations, seed
        self.losses: list[list[float]] = []
        self.ones_share: list[list[float]] = []

    def params(self) -> dict:
        return {"H": self.H, "L": self.L, "iterations": self.iterations, "seed": self.seed}

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (N, H) bool code per table: the signs of the rotated principal components."""
        v = (x.to(self.device, torch.float32) - self.mean) @ self.directions
        signs = v @ self.rotations.permute(1, 0, 2).reshape(self.H, -1) >= 0  # all tables in one product
        return list(signs.view(len(x), self.L, self.H).unbind(1))

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None):
        x = gallery.to(self.device, torch.float32)
        if self.H > x.shape[1]:
            raise ParameterError(f"ITQ H={self.H} exceeds the {x.shape[1]} dimensions of this space: choose "
                                 f"H <= {x.shape[1]}")
        self.mean, self.directions = principal_directions(x, self.H)
        v = (x - self.mean) @ self.directions
        rotations, self.losses = [], []
        for table in range(self.L):
            generator = torch.Generator().manual_seed(self.seed + table)
            rotation, losses = itq_rotation(v, random_rotation(self.H, generator), self.iterations)
            rotations.append(rotation)
            self.losses.append(losses)
        self.rotations = torch.stack(rotations).to(self.device)
        self.n_gallery = len(x)
        codes = self.codes(x)
        self.ones_share = [c.float().mean(0).tolist() for c in codes]
        self.tables = HashTables.build(codes)
        return self

    def arrays(self):
        return {"mean": self.mean, "directions": self.directions, "rotations": self.rotations, **self.tables.arrays()}

    def load_arrays(self, arrays):
        self.mean, self.directions = arrays["mean"].float(), arrays["directions"].float()
        self.rotations = arrays["rotations"].float()
        self.load_tables(arrays)

    def info(self):
        return {**super().info(), "quantization_loss": self.losses, "ones_share": self.ones_share}


METHOD = register(Method(
    name="itq", order=4, title="ITQ", index="ITQ", module=__name__,
    params={"H": int, "L": int},
    grid={"H": values_of(int, minimum=1, maximum=1024), "L": values_of(int, minimum=1, maximum=64)},
    settings={"iterations": {"type": "integer", "minimum": 0, "default": 50,
                             "description": "rotation updates per table (Gong and Lazebnik: 50)"}},
    configurations=lambda grid, settings: [{"H": H, "L": L} for L in grid["L"] for H in grid["H"]],
    build_settings=lambda settings, grid: {"iterations": settings["iterations"]},
    hamming=lambda bits, settings: {"H": bits, "L": 1},
    axis="H", table="itq", block=lambda row: f"#Hashtables = {int(row['L'])}", series=("L",), colour="tab:purple",
    caption="ITQ (Gong and Lazebnik, 2011; not in the report) in the layout of Figure 2: precision@10, precision@50 "
            "and mAP in percent, one block per number of hash tables L, one column per dataset and code length H "
            "(PCA to H dimensions, then a learned rotation). Candidates are the union of the query's buckets.",
))
