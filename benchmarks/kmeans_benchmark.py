"""k-means against scikit-learn, whole fits with each library's defaults (prints a table).

    python benchmarks/kmeans_benchmark.py                      # 50,000 x 512, K=100 and 1000, 1 and 2 threads
    python benchmarks/kmeans_benchmark.py --n 5000 --K 50      # a quick look

The report used scikit-learn's KMeans (CIFAR) and MiniBatchKMeans (ImageNet); lshbench follows their semantics, so
a fit should cost no more than scikit-learn's and reach the same inertia (sum of squared distances of every gallery
vector to its centre; target within 2%). Data: the methods benchmark's synthetic gallery (non-negative vectors in
10 classes, like ResNet features). scikit-learn: ``KMeans(K, n_init=1)`` and ``MiniBatchKMeans(K, batch_size=1024,
n_init=1)``, k-means++ seeding both; each fit from the same seed, ours in torch on the CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from lshbench.methods import KMeans

from methods_benchmark import synthetic


def cluster_sizes(labels: np.ndarray, k: int) -> tuple[int, int]:
    sizes = np.bincount(labels, minlength=k)
    return int((sizes == 0).sum()), int((sizes == 1).sum())


def ours(x: torch.Tensor, k: int, algorithm: str, seed: int) -> dict:
    start = time.perf_counter()
    model = KMeans(k, algorithm=algorithm, seed=seed).fit(x)
    seconds = time.perf_counter() - start
    empty, single = cluster_sizes(model.assignment.numpy(), k)
    return {"seconds": seconds, "inertia": model.inertia, "iterations": model.iterations, "empty": empty,
            "single": single}


def sklearn(x: np.ndarray, k: int, algorithm: str, seed: int) -> dict:
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import MiniBatchKMeans

    if algorithm == "lloyd":
        model = SkKMeans(k, n_init=1, random_state=seed, algorithm="lloyd")
    else:
        model = MiniBatchKMeans(k, batch_size=1024, n_init=1, random_state=seed)
    start = time.perf_counter()
    model.fit(x)
    seconds = time.perf_counter() - start
    labels = model.labels_
    inertia = float(((x - model.cluster_centers_[labels]).astype(np.float64) ** 2).sum())
    if algorithm == "lloyd":
        iterations = model.n_iter_
    else:
        iterations = int(np.ceil(model.n_steps_ * min(1024, len(x)) / len(x)))
    empty, single = cluster_sizes(labels, k)
    return {"seconds": seconds, "inertia": inertia, "iterations": iterations, "empty": empty, "single": single}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="gallery vectors")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--K", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--algorithms", nargs="+", default=["minibatch", "lloyd"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    x, _, _, _ = synthetic(args.n, 1, args.dim, 10)
    x_np = x.numpy()
    print(f"gallery {args.n} x {args.dim}; iterations = Lloyd iterations or mini-batch passes over the data")
    header = (f"{'algorithm':<10} {'K':>5} {'thr':>3} {'ours s':>8} {'sklearn s':>9} {'ratio':>6} "
              f"{'inertia ours':>13} {'inertia sk':>13} {'diff %':>7} {'it ours':>7} {'it sk':>6} "
              f"{'empty o/s':>9} {'single o/s':>10}")
    print(header)
    print("-" * len(header))
    for algorithm in args.algorithms:
        for k in args.K:
            for threads in args.threads:
                torch.set_num_threads(threads)
                a = ours(x, k, algorithm, args.seed)
                with threadpool_limits(threads):
                    b = sklearn(x_np, k, algorithm, args.seed)
                diff = 100 * (a["inertia"] - b["inertia"]) / b["inertia"]
                print(f"{algorithm:<10} {k:>5} {threads:>3} {a['seconds']:>8.2f} {b['seconds']:>9.2f} "
                      f"{a['seconds'] / b['seconds']:>6.2f} {a['inertia']:>13.5g} {b['inertia']:>13.5g} "
                      f"{diff:>+7.2f} {a['iterations']:>7} {b['iterations']:>6} "
                      f"{a['empty']:>4}/{b['empty']:<4} {a['single']:>5}/{b['single']:<4}", flush=True)


if __name__ == "__main__":
    main()
