"""Spectral hashing (Weiss, Torralba and Fergus, NIPS 2008; not in the report), as the authors' MATLAB code
(``trainSH.m``, ``compressSH.m``) computes it, in float64 as MATLAB does.

Training (trainSH.m):

1. PCA to npca = min(H, D) dimensions: the top eigenvectors of the covariance (``eigs(cov(X), npca)``; cov centres
   the data), but the data are projected uncentred (``X * pc``, "no need to remove the mean": the shift by mn below
   absorbs it).
2. A uniform distribution per direction on the gallery's range: mn = min - eps, mx = max + eps (MATLAB's eps,
   2.2204e-16, absolute; the code's 5th/95th percentile lines are overwritten by these), R = mx - mn.
3. The eigenfunctions of the 1-D uniform Laplacian, one direction at a time: direction i offers the modes
   1 .. maxMode(i) - 1, maxMode = ceil((H + 1) R / max(R)) (the widest direction offers 1 .. H); the eigenvalue of
   mode m on direction i is (m pi / R_i)^2. All candidate modes (with the all-zero mode, which sorts first and is
   dropped) are sorted by eigenvalue, ascending and stable (MATLAB's sort), and the first H kept: bit b is mode
   m_b on direction d_b.

Codes (compressSH.m): u = X pc - mn, bit b = sin(pi/2 + m_b (pi / R_{d_b}) u_{d_b}) > 0 (the code's product over
directions of sin(pi/2 + omega u) has one factor that is not sin(pi/2) = 1 per single-direction mode). Queries use the
gallery's mn and R; a query outside the gallery's range keeps the sine's period (no clipping).

Deterministic given the data (no random draw): registered ``randomised=False``, each configuration runs once. One
hash table; a query's candidates are its bucket.
"""

from __future__ import annotations

import math

from ..lazy import lazy_import
from .hashing import OneTableIndex
from .itq import principal_directions
from .registry import Method, register, values_of

torch = lazy_import("torch")

MATLAB_EPS = 2.220446049250313e-16  # eps in the authors' code: MATLAB's eps(1), the float64 machine epsilon


def select_modes(R: torch.Tensor, H: int) -> tuple[torch.Tensor, torch.Tensor]:
    """trainSH.m's step 3: the H single-direction modes of smallest eigenvalue, as (direction, multiple) pairs, each
    (H,) int64, from the float64 ranges R (npca,)."""
    max_mode = torch.ceil((H + 1) * R / R.max()).to(torch.int64)  # the code's order of operations: (H + 1) R / max R
    counts = max_mode - 1  # direction i offers modes 1 .. maxMode(i) - 1
    direction = torch.repeat_interleave(torch.arange(len(R), device=R.device), counts)
    first = torch.cumsum(counts, 0) - counts
    multiple = torch.arange(len(direction), device=R.device) - first[direction] + 1
    omega = multiple.to(R.dtype) * (math.pi / R)[direction]
    order = torch.sort(omega * omega, stable=True).indices[:H]  # after the all-zero mode the code drops
    return direction[order], multiple[order]


class SpectralHashing(OneTableIndex):
    method = "spectral"
    title = "spectral hashing"

    @property
    def modes(self) -> torch.Tensor:
        """trainSH.m's ``modes``: (H, npca), row b holds m_b in column d_b and zeros elsewhere."""
        modes = torch.zeros(self.H, self.directions.shape[1], dtype=torch.float64, device=self.device)
        modes[torch.arange(self.H, device=self.device), self.mode_direction] = self.mode_multiple.double()
        return modes

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (N, H) bool code (one table): bit b = sin(pi/2 + omega_b u_{d_b}) > 0 (compressSH.m)."""
        u = x.to(self.device, torch.float64) @ self.directions - self.mn
        omega = self.mode_multiple.double() * (math.pi / (self.mx - self.mn))[self.mode_direction]
        return [torch.sin(u[:, self.mode_direction] * omega + math.pi / 2) > 0]

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None):
        x = gallery.to(self.device, torch.float64)
        npca = min(self.H, x.shape[1])
        _, self.directions = principal_directions(x, npca, dtype=torch.float64)
        projected = x @ self.directions
        self.mn = projected.min(0).values - MATLAB_EPS
        self.mx = projected.max(0).values + MATLAB_EPS
        self.mode_direction, self.mode_multiple = select_modes(self.mx - self.mn, self.H)
        self.build_table(x)
        return self

    def arrays(self):
        return {"directions": self.directions, "mn": self.mn, "mx": self.mx, "mode_direction": self.mode_direction,
                "mode_multiple": self.mode_multiple, **self.tables.arrays()}

    def load_arrays(self, arrays):
        self.directions, self.mn, self.mx = (arrays[k].double() for k in ("directions", "mn", "mx"))
        self.mode_direction, self.mode_multiple = arrays["mode_direction"].long(), arrays["mode_multiple"].long()
        self.load_tables(arrays)

    def info(self):
        return {**super().info(), "modes": [[int(d), int(m)] for d, m in zip(self.mode_direction.tolist(),
                                                                             self.mode_multiple.tolist())]}


METHOD = register(Method(
    name="spectral", order=7, title="spectral hashing", index="SpectralHashing", module=__name__, randomised=False,
    params={"H": int},
    grid={"H": values_of(int, minimum=1, maximum=1024)},
    hamming=lambda bits, settings: {"H": bits},
    axis="H", table="spectral", block=lambda row: "#Hashtables = 1", colour="tab:pink",
    caption="Spectral hashing (Weiss, Torralba and Fergus, 2008; not in the report) in the layout of Figure 2: "
            "precision@10, precision@50 and mAP in percent, one column per dataset and code length H (PCA, then the "
            "H single-direction sinusoidal eigenfunctions of smallest eigenvalue, as the authors' trainSH.m). One "
            "hash table; candidates are the query's bucket. Deterministic: one run, no seeds.",
))
