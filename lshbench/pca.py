"""PCA fitted on the gallery (method 1's variant in the report: 512 -> 248 dimensions, ~95% of the variance)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class PCA:
    mean: torch.Tensor  # (D,)
    components: torch.Tensor  # (D, D), rows sorted by explained variance, descending
    explained_variance: torch.Tensor  # (D,)

    @property
    def explained_variance_ratio(self) -> torch.Tensor:
        return self.explained_variance / self.explained_variance.sum()

    def n_components_for(self, variance: float) -> int:
        """The fewest components whose cumulative explained-variance ratio reaches ``variance``."""
        cumulative = torch.cumsum(self.explained_variance_ratio, 0)
        return int(torch.searchsorted(cumulative, torch.tensor(variance, dtype=cumulative.dtype)).item()) + 1

    def transform(self, x: torch.Tensor, dims: int) -> torch.Tensor:
        return (x.to(self.mean.dtype) - self.mean) @ self.components[:dims].T


def fit_pca(gallery: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> PCA:
    """Eigen-decomposition of the gallery covariance in float64. Eigenvector signs are arbitrary, so each component
    is flipped to make its largest-|loading| entry positive: the same gallery gives the same projection."""
    x = torch.as_tensor(gallery, device=device, dtype=torch.float64)
    if x.shape[0] < 2:
        raise ValueError("PCA needs at least two gallery vectors")
    mean = x.mean(0)
    centred = x - mean
    covariance = centred.T @ centred / (x.shape[0] - 1)
    values, vectors = torch.linalg.eigh(covariance)
    order = torch.argsort(values, descending=True)
    values, components = values[order].clamp_min(0), vectors[:, order].T
    signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
    return PCA(mean=mean, components=components * signs, explained_variance=values)
