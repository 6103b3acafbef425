"""The GPU check of the embedding stage and neural LSH training on CUDA (demo data), printing rates and times.

    python benchmarks/gpu_check.py            # on a machine with a CUDA GPU

Embeds MNIST-5k and scikit-learn's digits with random ResNet-18 and ResNet-50 as the demo does (64 px) and at the
report's 224 px, through lshbench.embed.embed_split (bf16 autocast, channels_last), next to the bare model's forward
rate at the same batch and size; then trains neural LSH (H=800, 20 epochs, batch 256) on the ResNet-50 gallery and
evaluates one configuration per method on the GPU.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from embed_throughput import bare_rate  # noqa: E402

from lshbench.sources import open_split  # noqa: E402
from lshbench.embed import build_model, embed_split  # noqa: E402
from lshbench.evaluate import Evaluator, exact_top_k  # noqa: E402
from lshbench.metrics import evaluate  # noqa: E402
from lshbench.io import read_embeddings  # noqa: E402
from lshbench.methods import Exact, HyperplaneLSH, KMeans, NeuralLSH  # noqa: E402
from lshbench.methods.neural import train_network  # noqa: E402


def settings(name):
    return {"name": name, "source": name, "query_fraction": 0.2, "seed": 0, "gallery_limit": None,
            "query_limit": None}


def main():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (no CUDA device: a dry run)"
    print(f"torch {torch.__version__}, {name}", flush=True)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch = 256
    folder = Path(tempfile.mkdtemp())
    print(f"\n{'dataset/split':18} {'model':9} {'size':>4} {'images':>6} {'stage img/s':>12} {'bare img/s':>11}")
    for size in (64, 224):
        for dataset in ("mnist5k", "digits"):
            for arch in ("resnet18", "resnet50"):
                for split_name in ("gallery", "query"):
                    split = open_split(settings(dataset), folder, split_name, image_size=size)
                    model = build_model(arch, seed=0)
                    out = folder / f"{dataset}-{arch}-{size}-{split_name}.parquet"
                    embed_split(split, model, out, image_size=size, batch_size=batch, device=device, precision="bf16",
                                progress=False)
                    sync()
                    start = time.perf_counter()
                    embed_split(split, model, out, image_size=size, batch_size=batch, device=device, precision="bf16",
                                progress=False)
                    sync()
                    stage = len(split) / (time.perf_counter() - start)
                    bare = bare_rate(model, device, batch, size, max(2, len(split) // batch))
                    print(f"{dataset + '/' + split_name:18} {arch:9} {size:>4} {len(split):>6} {stage:>12.0f} "
                          f"{bare:>11.0f}", flush=True)

    gallery = read_embeddings(folder / "mnist5k-resnet50-64-gallery.parquet")
    query = read_embeddings(folder / "mnist5k-resnet50-64-query.parquet")
    x, y = torch.from_numpy(gallery.vectors), torch.from_numpy(gallery.labels)
    train_network(x, y, H=800, epochs=1, device=device)  # warm-up
    sync()
    start = time.perf_counter()
    network, history = train_network(x, y, H=800, epochs=20, batch_size=256, device=device)
    sync()
    seconds = time.perf_counter() - start
    print(f"\nneural LSH training on CUDA, MNIST-5k ResNet-50 gallery ({len(x)} x {x.shape[1]}), H=800, 20 epochs, "
          f"batch 256: {seconds:.2f} s ({seconds / 20 * 1000:.0f} ms/epoch); final loss {history[-1]['total']:.3f} "
          f"(balance {history[-1]['balance']:.3f}, fence {history[-1]['fence']:.3f}, "
          f"supervision {history[-1]['supervision']:.3f})")

    q, ql = torch.from_numpy(query.vectors), torch.from_numpy(query.labels)
    _, exact_scores = exact_top_k(x.to(device), q.to(device), 50)
    evaluator = Evaluator(x, y, q, ql, exact_scores, device=device)
    print(f"\n{'configuration (MNIST-5k, ResNet-50 64 px, CUDA)':48} {'P@10':>6} {'mAP':>6} {'cand %':>7} {'eval s':>7} "
          f"{'p50 ms':>7}")
    for name, index in (("exact", Exact(device)), ("kmeans K=50", KMeans(50, device=device)),
                        ("hyperplane H=8 L=6 centred", HyperplaneLSH(8, 6, center=True, device=device)),
                        ("neural J=8 L=8", NeuralLSH([network], 8, 8, device=device))):
        index.fit(x.to(device), y)
        _, s = evaluate(evaluator, index)
        print(f"{name:48} {s['precision_at_10']:6.3f} {s['mAP']:6.3f} {100 * s['candidates_fraction']:7.2f} "
              f"{s['evaluate_seconds']:7.2f} {s['search_p50_ms']:7.2f}")


if __name__ == "__main__":
    main()
