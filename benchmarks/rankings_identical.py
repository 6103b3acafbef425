"""Every method's Ranking through the lshbench on sys.path, dumped to an npz, and two dumps compared exactly: the
check that an engine change keeps every result (ids, scores, n_candidates, n_relevant, ap_sum) bit for bit.

    git archive <old commit> lshbench | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python benchmarks/rankings_identical.py dump /tmp/old.npz
    PYTHONPATH=. python benchmarks/rankings_identical.py dump /tmp/new.npz
    python benchmarks/rankings_identical.py compare /tmp/old.npz /tmp/new.npz

Synthetic non-negative data at 512, 64 and 2048 dimensions (query counts that leave odd tails), k-means K 10/50/200
(probes 1) and 50 (probes 2), hyperplanes centred and not, multi-probe radius 1 and 2, ITQ, neural LSH (a network
trained 2 epochs), exact search; 1 and 2 threads, memory_mb 1024 and 8 (many small blocks).
"""
import sys

import numpy as np
import torch


def dump(path):
    from lshbench.evaluate import Evaluator, exact_top_k
    from lshbench.methods import ITQ, Exact, HyperplaneLSH, KMeans, MultiProbeLSH, NeuralLSH
    from lshbench.methods.neural import train_network

    out = {}

    def synthetic(n, q, dim, classes=20, seed=0):
        g = torch.Generator().manual_seed(seed)
        centres = torch.randn(classes, dim, generator=g)
        labels = torch.randint(classes, (n + q,), generator=g)
        x = torch.relu(centres[labels] + 1.5 * torch.randn(len(labels), dim, generator=g))
        return x[:n], labels[:n], x[n:], labels[n:]
    torch.manual_seed(0)
    for (n, nq, dim) in [(3000, 517, 512), (4000, 1000, 64), (1437, 361, 2048)]:
        gal, gl, qs, ql = synthetic(n, nq, dim)
        _, ex = exact_top_k(gal, qs, 50)
        net = train_network(gal, gl, H=32, epochs=2, batch_size=128, seed=0)[0]
        methods = {
            "km10": lambda: KMeans(10, max_iter=3, tol=0).fit(gal),
            "km50": lambda: KMeans(50, max_iter=3, tol=0).fit(gal),
            "km200": lambda: KMeans(200, max_iter=3, tol=0).fit(gal),
            "km50p2": lambda: KMeans(50, max_iter=3, tol=0, probes=2).fit(gal),
            "hp8x6": lambda: HyperplaneLSH(8, 6).fit(gal),
            "hp4x3": lambda: HyperplaneLSH(4, 3).fit(gal),
            "hp8x6c": lambda: HyperplaneLSH(8, 6, center=True).fit(gal),
            "mp16x3r1": lambda: MultiProbeLSH(16, 3, probes_radius=1).fit(gal),
            "mp16x1r2": lambda: MultiProbeLSH(16, 1, probes_radius=2).fit(gal),
            "itq8x3": lambda: ITQ(8, 3).fit(gal),
            "itq16x1": lambda: ITQ(16, 1).fit(gal),
            "neural8": lambda: NeuralLSH([net], J=8, L=4).fit(gal),
            "exact": lambda: Exact().fit(gal),
        }
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for name, build in methods.items():
                idx = build()
                for mem in (1024, 8):
                    ev = Evaluator(gal, gl, qs, ql, ex, memory_mb=mem)
                    r, _ = ev.rankings(idx, keep_top=100, latency_queries=3)
                    key = f"{n}_{dim}_{threads}_{name}_{mem}"
                    for f in ("ids", "scores", "n_candidates", "n_relevant", "ap_sum"):
                        out[f"{key}.{f}"] = getattr(r, f)
    np.savez(path, **out)
    print("saved", len(out))


def compare(a_path, b_path) -> int:
    a, b = np.load(a_path), np.load(b_path)
    bad = 0
    for k in a.files:
        x, y = a[k], b[k]
        if x.shape != y.shape or not np.array_equal(x, y):
            bad += 1
            rows = np.unique(np.nonzero(x != y)[0])[:10] if x.shape == y.shape else "shape"
            print("DIFF", k, rows)
    print("compared", len(a.files), "differ", bad)
    return bad


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        sys.exit(1 if compare(sys.argv[2], sys.argv[3]) else 0)
