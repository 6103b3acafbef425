"""Method 1 of the report: k-means clusters as buckets; a query's candidates are its nearest cluster's members.

Written in torch (blocked matrix products, device-agnostic) because scikit-learn's KMeans is ~50x slower than FAISS
at K=1000 on the project's machines; scikit-learn remains the test oracle.
"""

from __future__ import annotations

import math

import torch

from ..candidates import Candidates, from_pairs, gather_ranges
from .base import Index, ParameterError

ALGORITHMS = ("lloyd", "minibatch")


def _block_rows(n_cols: int, budget: int = 1 << 24) -> int:
    return max(1, budget // max(1, n_cols))


def squared_distances(x: torch.Tensor, centroids: torch.Tensor, centroid_norms: torch.Tensor) -> torch.Tensor:
    """||x - c||^2 for every row of x and every centroid (clamped at 0 against rounding)."""
    d = torch.addmm(centroid_norms.unsqueeze(0), x, centroids.T, beta=1, alpha=-2)
    return d.add_((x * x).sum(1, keepdim=True)).clamp_min_(0)


def assign(x: torch.Tensor, centroids: torch.Tensor, probes: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest ``probes`` centroids of each row (indices (N, probes), squared distances), in blocks of rows."""
    norms = (centroids * centroids).sum(1)
    step = _block_rows(len(centroids))
    labels, distances = [], []
    for start in range(0, len(x), step):
        d = squared_distances(x[start : start + step], centroids, norms)
        if probes == 1:
            value, index = d.min(1, keepdim=True)
        else:
            value, index = torch.topk(d, probes, dim=1, largest=False)
        labels.append(index)
        distances.append(value)
    return torch.cat(labels), torch.cat(distances)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur and Vassilvitskii, 2007): each new centre drawn with probability ~ D(x)^2."""
    n = len(x)
    first = int(torch.randint(n, (1,), generator=generator, device="cpu"))
    centroids = torch.empty(k, x.shape[1], dtype=x.dtype, device=x.device)
    centroids[0] = x[first]
    closest = ((x - x[first]) ** 2).sum(1)
    x_norms = (x * x).sum(1)
    for i in range(1, k):
        weights = closest.double().cpu()
        total = float(weights.sum())
        if total <= 0:  # fewer distinct points than k: take any point
            choice = int(torch.randint(n, (1,), generator=generator))
        else:
            choice = int(torch.multinomial(weights / total, 1, generator=generator))
        centroids[i] = x[choice]
        d = (x_norms - 2 * (x @ x[choice]) + x_norms[choice]).clamp_min_(0)
        closest = torch.minimum(closest, d)
    return centroids


class KMeans(Index):
    method = "kmeans"

    def __init__(self, K: int, *, algorithm: str = "lloyd", max_iter: int = 100, tol: float = 1e-4,
                 probes: int = 1, batch_size: int = 4096, init_sample: int | None = None, seed: int = 0,
                 device: str | torch.device = "cpu"):
        super().__init__(device)
        if algorithm not in ALGORITHMS:
            raise ValueError(f"kmeans algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
        if K < 1 or probes < 1 or probes > K:
            raise ParameterError(f"kmeans needs K >= 1 and 1 <= probes <= K (K={K}, probes={probes})")
        self.K, self.algorithm, self.max_iter, self.tol = K, algorithm, max_iter, tol
        self.probes, self.batch_size, self.init_sample, self.seed = probes, batch_size, init_sample, seed
        self.centroids: torch.Tensor | None = None
        self.iterations = 0
        self.inertia = float("nan")

    def params(self) -> dict:
        return {"K": self.K, "probes": self.probes, "algorithm": self.algorithm, "max_iter": self.max_iter,
                "tol": self.tol, "batch_size": self.batch_size, "init_sample": self.init_sample, "seed": self.seed}

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None, init: torch.Tensor | None = None):
        x = gallery.to(self.device, torch.float32)
        n = len(x)
        if self.K > n:
            raise ParameterError(f"kmeans K={self.K} exceeds the gallery size {n}: choose K <= {n} for this dataset")
        generator = torch.Generator().manual_seed(self.seed)
        if init is not None:
            centroids = init.to(self.device, torch.float32).clone()
        else:
            sample = x
            size = self.init_sample or n
            if size < n:
                sample = x[torch.randperm(n, generator=generator)[: max(size, self.K)].to(self.device)]
            centroids = kmeans_plus_plus(sample, self.K, generator)
        # sklearn's convention: tol is relative to the mean per-feature variance of the data
        tol = self.tol * float(x.var(0).mean()) if n > 1 else 0.0
        fit = self._lloyd if self.algorithm == "lloyd" else self._minibatch
        self.centroids = fit(x, centroids, tol, generator)
        assignment, distances = assign(x, self.centroids)
        self.assignment = assignment[:, 0]
        self.inertia = float(distances.double().sum())
        self.n_gallery = n
        self._build_buckets()
        return self

    def _lloyd(self, x, centroids, tol, generator):
        previous = None
        for iteration in range(1, self.max_iter + 1):
            labels = assign(x, centroids)[0][:, 0]
            counts = torch.bincount(labels, minlength=self.K)
            sums = torch.zeros_like(centroids).index_add_(0, labels, x)
            filled = counts > 0  # an empty cluster keeps its centre
            new = centroids.clone()
            new[filled] = sums[filled] / counts[filled].unsqueeze(1).to(x.dtype)
            shift = float(((new - centroids) ** 2).sum())
            centroids = new
            self.iterations = iteration
            if (previous is not None and torch.equal(labels, previous)) or shift <= tol:
                break
            previous = labels
        return centroids

    def _minibatch(self, x, centroids, tol, generator):
        """Mini-batch k-means (Sculley, 2010) with per-centre learning rates 1/count, as scikit-learn."""
        n = len(x)
        counts = torch.zeros(self.K, dtype=x.dtype, device=x.device)
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        for epoch in range(1, self.max_iter + 1):
            start = centroids.clone()
            for _ in range(steps_per_epoch):
                batch = x[torch.randint(n, (min(self.batch_size, n),), generator=generator).to(x.device)]
                labels = assign(batch, centroids)[0][:, 0]
                batch_counts = torch.bincount(labels, minlength=self.K).to(x.dtype)
                sums = torch.zeros_like(centroids).index_add_(0, labels, batch)
                counts += batch_counts
                hit = batch_counts > 0
                rate = (1.0 / counts[hit]).unsqueeze(1)
                centroids[hit] += rate * (sums[hit] - batch_counts[hit].unsqueeze(1) * centroids[hit])
            self.iterations = epoch
            if float(((centroids - start) ** 2).sum()) <= tol:
                break
        return centroids

    def _build_buckets(self):
        order = torch.argsort(self.assignment, stable=True)  # members of a cluster in ascending gallery order
        self.members = order
        counts = torch.bincount(self.assignment, minlength=self.K)
        self.offsets = torch.zeros(self.K + 1, dtype=torch.int64, device=self.device)
        self.offsets[1:] = torch.cumsum(counts, 0)

    def candidates(self, queries: torch.Tensor) -> Candidates:
        q = self._check_queries(queries)
        clusters = assign(q, self.centroids, self.probes)[0]  # (Q, probes)
        starts = self.offsets[clusters.reshape(-1)]
        lengths = self.offsets[clusters.reshape(-1) + 1] - starts
        owner, ids = gather_ranges(starts, lengths, self.members)
        if self.probes == 1:  # one cluster per query: already grouped by query and ascending
            offsets = torch.zeros(len(q) + 1, dtype=torch.int64, device=self.device)
            offsets[1:] = torch.cumsum(lengths, 0)
            return Candidates(offsets, ids, len(q), self.n_gallery)
        return from_pairs(owner // self.probes, ids, len(q), self.n_gallery)

    def arrays(self):
        return {"centroids": self.centroids, "assignments": self.assignment}

    def load_arrays(self, arrays):
        self.centroids = arrays["centroids"].to(self.device, torch.float32)
        self.assignment = arrays["assignments"].to(self.device, torch.int64)
        self.n_gallery = len(self.assignment)
        self._build_buckets()

    def info(self):
        sizes = torch.bincount(self.assignment, minlength=self.K)
        return {"inertia": self.inertia, "iterations": self.iterations, "empty_clusters": int((sizes == 0).sum()),
                "largest_cluster": int(sizes.max())}
