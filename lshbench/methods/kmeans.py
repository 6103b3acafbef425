"""Method 1 of the report: k-means clusters as buckets; a query's candidates are its nearest cluster's members.

The report used scikit-learn (KMeans, and MiniBatchKMeans for ImageNet), so this module follows scikit-learn's
semantics and defaults, written in torch (blocked matrix products, device-agnostic, no per-point Python):

* seeding: greedy k-means++ (2 + ln K candidate centres per step, the one lowering the potential most is kept), on
  all points for Lloyd and on ``3 * batch_size`` (at least ``3 * K``) random points for mini-batch (``init_size``);
* Lloyd: at most 300 iterations, stops when no label changes or the centre shift is <= tol (1e-4 x the mean
  feature variance); an empty cluster is given the point farthest from its centre (``_relocate_empty_clusters``);
* mini-batch (Sculley, 2010): batches of 1024 drawn with replacement, per-centre learning rates 1/count, at most
  100 passes over the data, early stop when the exponentially weighted batch inertia has not improved for 10 steps
  (``max_no_improvement``) or, with tol > 0 (default 0), on centre change; centres whose count falls below
  ``reassignment_ratio`` (0.01) of the largest are moved to random batch points every 10 K samples seen.
"""

from __future__ import annotations

import math

from ..lazy import lazy_import

from ..candidates import BucketCandidates, Candidates, from_pairs, gather_ranges
from .base import Index, ParameterError
from .registry import Method, register, values_of

torch = lazy_import("torch")

ALGORITHMS = ("lloyd", "minibatch")
# scikit-learn's defaults per algorithm (KMeans / MiniBatchKMeans)
DEFAULT_MAX_ITER = {"lloyd": 300, "minibatch": 100}
DEFAULT_TOL = {"lloyd": 1e-4, "minibatch": 0.0}


def _block_rows(n_cols: int, budget: int = 1 << 24) -> int:
    return max(1, budget // max(1, n_cols))


def row_norms(x: torch.Tensor) -> torch.Tensor:
    """||x_i||^2 of every row (one pass over x)."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def mean_variance(x: torch.Tensor) -> float:
    """The mean per-feature variance (population, as numpy), without a centred copy of x: tol's scale."""
    n, d = x.shape
    mean = x.mean(0, dtype=torch.float64)
    total = float(torch.linalg.vector_norm(x.reshape(-1), dtype=torch.float64)) ** 2
    return max(total / n - float(mean.square().sum()), 0.0) / d


_NORMS: dict = {}  # id(centroids) -> (centroids, ||c||^2): queries reuse the fitted centroids' norms


def centroid_norms(centroids: torch.Tensor) -> torch.Tensor:
    """||c||^2 of the centroids, cached for the last centroids seen (the same values as row_norms: one pass)."""
    cached = _NORMS.get("last")
    if cached is not None and cached[0] is centroids and cached[2] == centroids._version:
        return cached[1]
    norms = row_norms(centroids)
    _NORMS["last"] = (centroids, norms, centroids._version)
    return norms


def assign(x: torch.Tensor, centroids: torch.Tensor, probes: int = 1, x_norms: torch.Tensor | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest ``probes`` centroids of each row (indices (N, probes), squared distances), in blocks of rows.

    The ranking needs only ||c||^2 - 2 x.c (one GEMM); ||x||^2 is added to the chosen distances alone."""
    norms = centroid_norms(centroids)
    step = _block_rows(len(centroids))
    labels, distances = [], []
    for start in range(0, len(x), step):
        block = x[start : start + step]
        d = torch.addmm(norms.unsqueeze(0), block, centroids.T, beta=1, alpha=-2)
        if probes == 1:
            value, index = d.min(1, keepdim=True)
        else:
            value, index = torch.topk(d, probes, dim=1, largest=False)
        block_norms = row_norms(block) if x_norms is None else x_norms[start : start + step]
        labels.append(index)
        distances.append(value.add_(block_norms.unsqueeze(1)).clamp_min_(0))
    return torch.cat(labels), torch.cat(distances)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator, local_trials: int | None = None
                     ) -> torch.Tensor:
    """Greedy k-means++ seeding (Arthur and Vassilvitskii, 2007; scikit-learn's ``_kmeans_plusplus``): each step
    draws ``2 + ln k`` candidates with probability ~ D(x)^2 and keeps the one that lowers the potential most.

    Everything stays on x's device (``generator`` must live there): no host round trip per centre."""
    n = len(x)
    trials = local_trials or 2 + int(math.log(k))
    centroids = torch.empty(k, x.shape[1], dtype=x.dtype, device=x.device)
    x_norms = row_norms(x)
    first = torch.randint(n, (1,), generator=generator, device=x.device)
    centroids[0] = x[first[0]]
    closest = (x_norms - 2 * (x @ x[first[0]]) + x_norms[first[0]]).clamp_min_(0)
    potential = closest.sum(dtype=torch.float64)
    for i in range(1, k):
        draws = torch.rand(trials, generator=generator, device=x.device, dtype=torch.float64) * potential
        ids = torch.searchsorted(torch.cumsum(closest, 0, dtype=torch.float64), draws).clamp_max_(n - 1)
        # (n, trials): one pass over x per step (memory-bound; x @ candidates.T is the faster layout)
        d = torch.addmm(x_norms.unsqueeze(1), x, x[ids].T, beta=1, alpha=-2).add_(x_norms[ids].unsqueeze(0))
        d = torch.minimum(d.clamp_min_(0), closest.unsqueeze(1))
        potentials = d.sum(0, dtype=torch.float64)
        best = torch.argmin(potentials)
        potential, closest = potentials[best], d[:, best].contiguous()
        centroids[i] = x[ids[best]]
    return centroids


class KMeans(Index):
    method = "kmeans"

    def __init__(self, K: int, *, algorithm: str = "lloyd", max_iter: int | None = None, tol: float | None = None,
                 probes: int = 1, batch_size: int = 1024, max_no_improvement: int | None = 10,
                 reassignment_ratio: float = 0.01, init_sample: int | None = None, seed: int = 0,
                 device: str | torch.device = "cpu"):
        super().__init__(device)
        if algorithm not in ALGORITHMS:
            raise ValueError(f"kmeans algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
        if K < 1 or probes < 1 or probes > K:
            raise ParameterError(f"kmeans needs K >= 1 and 1 <= probes <= K (K={K}, probes={probes})")
        self.K, self.algorithm, self.probes, self.seed = K, algorithm, probes, seed
        self.max_iter = DEFAULT_MAX_ITER[algorithm] if max_iter is None else max_iter
        self.tol = DEFAULT_TOL[algorithm] if tol is None else tol
        self.batch_size, self.max_no_improvement = batch_size, max_no_improvement
        self.reassignment_ratio, self.init_sample = reassignment_ratio, init_sample
        self.centroids: torch.Tensor | None = None
        self.iterations = 0
        self.steps = 0
        self.reassigned = 0
        self.inertia = float("nan")

    def check_query(self) -> None:
        if not 1 <= self.probes <= self.K:
            raise ParameterError(f"kmeans needs 1 <= probes <= K (K={self.K}, probes={self.probes})")

    def params(self) -> dict:
        common = {"K": self.K, "probes": self.probes, "algorithm": self.algorithm, "max_iter": self.max_iter,
                  "tol": self.tol, "init_sample": self.init_sample, "seed": self.seed}
        if self.algorithm == "minibatch":
            common |= {"batch_size": self.batch_size, "max_no_improvement": self.max_no_improvement,
                       "reassignment_ratio": self.reassignment_ratio}
        return common

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None, init: torch.Tensor | None = None):
        x = gallery.to(self.device, torch.float32)
        n = len(x)
        if self.K > n:
            raise ParameterError(f"kmeans K={self.K} exceeds the gallery size {n}: choose K <= {n} for this dataset")
        generator = torch.Generator(device=self.device).manual_seed(self.seed)
        if init is not None:
            centroids = init.to(self.device, torch.float32).clone()
        else:
            size = self.init_sample
            if size is None and self.algorithm == "minibatch":  # scikit-learn's init_size
                size = 3 * min(self.batch_size, n)
                size = size if size >= self.K else 3 * self.K
            sample = x
            if size is not None and size < n:
                sample = x[torch.randint(n, (max(size, self.K),), generator=generator, device=self.device)]
            centroids = kmeans_plus_plus(sample, self.K, generator)
        # scikit-learn's convention: tol is relative to the mean per-feature variance of the data
        tol = self.tol * mean_variance(x) if n > 1 and self.tol > 0 else 0.0
        if self.algorithm == "lloyd":
            x_norms = row_norms(x)  # every iteration assigns all of x: ||x||^2 once
            self.centroids = self._lloyd(x, centroids, tol, x_norms=x_norms)
        else:
            x_norms = None
            self.centroids = self._minibatch(x, centroids, tol, generator)
        assignment, distances = assign(x, self.centroids, x_norms=x_norms)
        self.assignment = assignment[:, 0]
        self.inertia = float(distances.double().sum())
        self.n_gallery = n
        self._build_buckets()
        return self

    def _lloyd(self, x, centroids, tol, x_norms=None):
        previous = None
        for iteration in range(1, self.max_iter + 1):
            labels, distances = assign(x, centroids, x_norms=x_norms)
            labels, distances = labels[:, 0], distances[:, 0]
            counts = torch.bincount(labels, minlength=self.K).to(x.dtype)
            sums = torch.zeros_like(centroids).index_add_(0, labels, x)
            empty = torch.nonzero(counts == 0).squeeze(1)
            if len(empty):  # scikit-learn: each empty cluster takes one of the points farthest from their centre
                far = torch.topk(distances, min(len(empty), len(x))).indices
                empty = empty[: len(far)]
                owners = labels[far]
                sums.index_add_(0, owners, -x[far])
                counts.index_add_(0, owners, -torch.ones_like(far, dtype=x.dtype))
                sums[empty], counts[empty] = x[far], 1
            filled = counts > 0
            new = centroids.clone()
            new[filled] = sums[filled] / counts[filled].unsqueeze(1)
            shift = float(((new - centroids) ** 2).sum())
            centroids = new
            self.iterations = iteration
            if (previous is not None and torch.equal(labels, previous)) or shift <= tol:
                break
            previous = labels
        return centroids

    def _minibatch(self, x, centroids, tol, generator):
        """scikit-learn's MiniBatchKMeans loop (``_mini_batch_step`` and ``_mini_batch_convergence``)."""
        n = len(x)
        batch_size = min(self.batch_size, n)
        counts = torch.zeros(self.K, dtype=x.dtype, device=x.device)
        n_steps = (self.max_iter * n) // batch_size
        alpha = min(batch_size * 2.0 / (n + 1), 1.0)
        ewa = ewa_min = None
        no_improvement = since_reassign = 0
        for step in range(1, n_steps + 1):
            since_reassign += batch_size
            reassign = self.reassignment_ratio > 0 and (
                since_reassign >= 10 * self.K or bool((counts == 0).any()))
            if reassign:
                since_reassign = 0
            batch = x[torch.randint(n, (batch_size,), generator=generator, device=x.device)]
            labels, distances = assign(batch, centroids)
            labels = labels[:, 0]
            batch_inertia = distances.sum(dtype=torch.float64)
            batch_counts = torch.bincount(labels, minlength=self.K).to(x.dtype)
            sums = torch.zeros_like(centroids).index_add_(0, labels, batch)
            new_counts = counts + batch_counts
            hit = batch_counts > 0
            new = centroids.clone()
            new[hit] = (centroids[hit] * counts[hit].unsqueeze(1) + sums[hit]) / new_counts[hit].unsqueeze(1)
            counts = new_counts
            if reassign:
                low = counts < self.reassignment_ratio * counts.max()
                n_low = int(low.sum())
                if n_low > batch_size // 2:  # at most half a batch of new centres: keep the lowest counts
                    low[torch.argsort(counts, stable=True)[batch_size // 2 :]] = False
                    n_low = int(low.sum())
                if n_low:
                    picks = torch.randperm(batch_size, generator=generator, device=x.device)[:n_low]
                    new[low] = batch[picks]
                    counts[low] = counts[~low].min()
                    self.reassigned += n_low
            shift = float(((new - centroids) ** 2).sum()) if tol > 0 else 0.0
            centroids = new
            self.steps = step
            if step == 1:  # the first batch's inertia comes from the initial centres
                continue
            value = float(batch_inertia) / batch_size
            ewa = value if ewa is None else ewa * (1 - alpha) + value * alpha
            if tol > 0 and shift <= tol:
                break
            if ewa_min is None or ewa < ewa_min:
                no_improvement, ewa_min = 0, ewa
            else:
                no_improvement += 1
            if self.max_no_improvement is not None and no_improvement >= self.max_no_improvement:
                break
        self.iterations = math.ceil(self.steps * batch_size / n)  # passes over the data
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
            return Candidates(offsets, ids, len(q), self.n_gallery, groups=clusters[:, 0])
        return from_pairs(owner // self.probes, ids, len(q), self.n_gallery)

    def hits(self, queries: torch.Tensor) -> BucketCandidates:
        """The clusters probed by each query, as hits (lshbench.search scores each cluster's queries at once)."""
        q = self._check_queries(queries)
        clusters = assign(q, self.centroids, self.probes)[0].reshape(-1)
        begin = self.offsets[clusters]
        query = torch.arange(len(q), device=self.device).repeat_interleave(self.probes)
        return BucketCandidates(query, clusters, begin, self.offsets[clusters + 1] - begin, self.members, len(q),
                                self.n_gallery)

    def one_query_lists(self, query: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """One query's clusters as member ranges (lshbench.search.Searcher.search_one): probes 1 by one product with
        the centroids (on the CPU at one thread numpy's; else with the centroids laid out column-wise, half the time
        of the row-wise one for a single row)."""
        if self.probes != 1:
            hits = self.hits(query)
            return self.members, list(zip(hits.begin.tolist(), hits.length.tolist()))
        q = self._check_queries(query)
        if q.device.type == "cpu" and q.dtype == torch.float32 and torch.get_num_threads() == 1:
            # one matrix-vector product: numpy's (OpenBLAS) takes a sixth of torch's time for 1,000 x 512 here
            if getattr(self, "_norms", None) is None or self._norms[0] is not self.centroids:
                self._norms = (self.centroids, centroid_norms(self.centroids).numpy())
            d = self._norms[1] - 2 * (self.centroids.numpy() @ q[0].numpy())
            nearest = int(d.argmin())
        else:
            if getattr(self, "_columns", None) is None or self._columns[0] is not self.centroids:
                self._columns = (self.centroids, self.centroids.T.contiguous())
            nearest = int(torch.addmm(centroid_norms(self.centroids).unsqueeze(0), q, self._columns[1], beta=1,
                                      alpha=-2).argmin())
        start, stop = self.offsets[nearest : nearest + 2].tolist()
        return self.members, [(start, stop - start)]

    def arrays(self):
        return {"centroids": self.centroids, "assignments": self.assignment}

    def load_arrays(self, arrays):
        self.centroids = arrays["centroids"].to(self.device, torch.float32)
        self.assignment = arrays["assignments"].to(self.device, torch.int64)
        self.n_gallery = len(self.assignment)
        self._build_buckets()

    def info(self):
        sizes = torch.bincount(self.assignment, minlength=self.K)
        return {"inertia": self.inertia, "iterations": self.iterations, "steps": self.steps,
                "reassigned_centres": self.reassigned, "empty_clusters": int((sizes == 0).sum()),
                "single_item_clusters": int((sizes == 1).sum()), "largest_cluster": int(sizes.max())}


def _kmeans_settings(settings: dict, grid: dict) -> dict:
    """The build settings of one dataset (its grid's ``algorithm`` overrides methods.kmeans.algorithm); mini-batch
    settings only for mini-batch, so editing them re-runs only those builds."""
    algorithm = grid.get("algorithm", settings["algorithm"])
    keys = ["max_iter", "tol", "init_sample"]
    if algorithm == "minibatch":
        keys += ["batch_size", "max_no_improvement", "reassignment_ratio"]
    return {"algorithm": algorithm, **{key: settings[key] for key in keys}}


def _kmeans_checks(settings: dict, grid: dict, sizes: dict | None, where: str) -> None:
    for K in grid.get("K", []):
        if (sizes or {}).get("gallery") is not None and K > sizes["gallery"]:
            raise ValueError(f"{where}.K: {K} exceeds the {sizes['gallery']} gallery images of this dataset; "
                             f"choose K <= {sizes['gallery']}")
        for probes in settings["probes"]:
            if probes > K:
                raise ValueError(f"{where}.K: {K} is below methods.kmeans.probes {probes}; a query cannot probe more "
                                 f"clusters than there are")


def _kmeans_block(row) -> str:
    kind = "PCA" if "-pca" in row["space"] else "Embedding"
    label = f"{kind}: {int(row['dim'])}"
    return label if row["probes"] == 1 else f"{label} (probes={int(row['probes'])})"


METHOD = register(Method(
    name="kmeans", order=1, title="k-means", index="KMeans", module=__name__, family="clustering",
    params={"K": int, "probes": int},
    grid={"K": values_of(int, minimum=1),
          "algorithm": {"enum": list(ALGORITHMS),
                        "description": "overrides methods.kmeans.algorithm (the report uses minibatch for ImageNet)"}},
    settings={
        "algorithm": {"enum": list(ALGORITHMS), "default": "lloyd",
                      "description": "scikit-learn's KMeans (lloyd) or MiniBatchKMeans semantics"},
        "max_iter": {"type": ["integer", "null"], "minimum": 1, "default": None,
                     "description": "Lloyd iterations (null: 300) or mini-batch passes over the data (null: 100), "
                                    "scikit-learn's defaults"},
        "tol": {"type": ["number", "null"], "minimum": 0, "default": None,
                "description": "centre shift, relative to the data's mean variance (null: 1e-4 for lloyd, 0 = off for "
                               "minibatch, scikit-learn's defaults)"},
        "probes": {**values_of(int, minimum=1), "default": [1],
                   "description": "clusters a query visits (the report: 1)"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 1024, "description": "minibatch only"},
        "max_no_improvement": {"type": ["integer", "null"], "minimum": 1, "default": 10,
                               "description": "minibatch only: stop after this many steps without improvement of the "
                                              "smoothed batch inertia (null: never)"},
        "reassignment_ratio": {"type": "number", "minimum": 0, "default": 0.01,
                               "description": "minibatch only: centres with fewer than this share of the largest count "
                                              "move to random points (0: never)"},
        "init_sample": {"type": ["integer", "null"], "minimum": 1, "default": None,
                        "description": "k-means++ on a seeded sample of this many points (null: all points for lloyd, "
                                       "3 x batch_size (at least 3 K) for minibatch, as scikit-learn)"},
    },
    axis="K", log_axis=True, table="figure1_kmeans", block=_kmeans_block, series=("probes",), colour="tab:blue",
    caption="The report's Figure 1 (k-means) in its layout: Mean Precision@10, Mean Precision@50 and Mean Average "
            "Precision in percent, one block per embedding space (\"Embedding: d\" = a ResNet's d-dimensional "
            "features, \"PCA: d\" = their PCA to d dimensions; the report's were 512 and 248), one column per "
            "dataset and number of clusters K. A query's candidates are the members of its nearest cluster (probes: "
            "clusters).",
    build_settings=_kmeans_settings, checks=_kmeans_checks, query=("probes",),
))
