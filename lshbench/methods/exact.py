"""Exact search (not in the report): every gallery item is a candidate. The ceiling for precision and the reference
for recall."""

from __future__ import annotations

from ..lazy import lazy_import

from ..candidates import Candidates
from .base import Index
from .registry import Method, register

torch = lazy_import("torch")


class Exact(Index):
    method = "exact"

    def params(self) -> dict:
        return {}

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None):
        self.n_gallery = len(gallery)
        return self

    def candidates(self, queries: torch.Tensor) -> Candidates:
        return Candidates.all(len(self._check_queries(queries)), self.n_gallery)

    def arrays(self):
        return {"n_gallery": torch.tensor([self.n_gallery])}

    def load_arrays(self, arrays):
        self.n_gallery = int(arrays["n_gallery"][0])

    @classmethod
    def build(cls, params: dict, *, seed: int = 0, device="cpu", trained=None, **settings) -> "Exact":
        return cls(device)


METHOD = register(Method(
    name="exact", order=0, title="exact search", index="Exact", module=__name__, params={}, baseline=True, family="exact",
    colour="black",
    settings={"enabled": {"type": "boolean", "default": True,
                          "description": "exact search on every space any method uses"}},
))
