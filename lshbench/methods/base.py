"""The life cycle every method follows (as FAISS's train/add/search): fit on the gallery, then batched candidates.

An index saves itself into a folder of inspectable files (``.npy`` arrays, ``index.json``) and loads back exactly.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from ..lazy import lazy_import

from ..candidates import Candidates
from .registry import REGISTRY, ParameterError  # noqa: F401 (ParameterError: raised by methods, imported from here)

torch = lazy_import("torch")


class Index(ABC):
    method: str = ""

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.n_gallery = 0

    @abstractmethod
    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None) -> "Index":
        """Put the gallery (N, D) into buckets; labels are used only by weakly supervised methods."""

    @abstractmethod
    def candidates(self, queries: torch.Tensor) -> Candidates:
        """Per query, the de-duplicated gallery positions of the buckets it lands in (CSR, ascending)."""

    @abstractmethod
    def params(self) -> dict:
        """The parameters that define this index (written to index.json)."""

    @abstractmethod
    def arrays(self) -> dict[str, torch.Tensor]:
        """The arrays that make up the fitted index, saved one .npy file each."""

    @abstractmethod
    def load_arrays(self, arrays: dict[str, torch.Tensor]) -> None:
        """Restore the fitted state from ``arrays()``'s output."""

    @classmethod
    def build(cls, params: dict, *, seed: int = 0, device="cpu", trained: dict | None = None, **settings) -> "Index":
        """An unfitted index from its folder parameters and build settings (``trained``: its training step's
        arrays, for methods that have one). A folder's ``seed`` (the replicate's) wins over the argument; a method
        registered deterministic (``randomised=False``) takes no seed."""
        params = dict(params)
        seed = params.pop("seed", seed)
        entry = REGISTRY.get(cls.method)
        if entry is not None and not entry.seeded:
            return cls(**params, **settings, device=device)
        return cls(**params, **settings, seed=seed, device=device)

    @classmethod
    def load(cls, params: dict, arrays: dict, device="cpu") -> "Index":
        """A fitted index from ``params()`` and ``arrays()`` as saved in its folder."""
        index = cls(**params, device=device)
        index.load_arrays(arrays)
        return index

    def set_query(self, **values) -> None:
        """Apply query-time parameters (the method entry's ``query``) to the fitted index: each is an attribute that
        ``params()`` reports; a subclass checks them in ``check_query``."""
        for key, value in values.items():
            if not hasattr(self, key):
                raise ValueError(f"{type(self).__name__} has no query parameter {key!r}")
            setattr(self, key, value)
        self.check_query()

    def check_query(self) -> None:
        """Raise ParameterError for query parameters the index cannot take; rebuild what depends on them."""

    def info(self) -> dict:
        """Extra facts about the fitted index for index.json (bucket counts, inertia, ...)."""
        return {}

    def save(self, folder: str | Path, extra: dict | None = None, query: tuple[str, ...] = ()) -> None:
        """The arrays and index.json; ``query``: the query-time parameters, left out of its params (one index serves
        every value)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        shapes = {}
        for name, array in self.arrays().items():
            values = array.detach().cpu().numpy()
            np.save(folder / f"{name}.npy", values)
            shapes[name] = {"shape": list(values.shape), "dtype": str(values.dtype)}
        params = {k: v for k, v in self.params().items() if k not in query}
        meta = {"method": self.method, "params": params, **({"query_params": list(query)} if query else {}),
                "n_gallery": self.n_gallery, **self.info(),
                **(extra or {}), "arrays": shapes}
        (folder / "index.json").write_text(json.dumps(meta, indent=2))

    def _check_queries(self, queries: torch.Tensor) -> torch.Tensor:
        if self.n_gallery == 0:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(gallery) first")
        return queries.to(self.device, torch.float32)


def load_arrays(folder: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    return {p.stem: torch.from_numpy(np.load(p)).to(device) for p in sorted(Path(folder).glob("*.npy"))}
