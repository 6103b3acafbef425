"""ImageNet-1k's sizes on the machine this runs on: every stage of lshbench at the report's largest setting.

    python benchmarks/imagenet_scale.py                 # full size (a GPU machine: about 5 minutes on an H200)
    python benchmarks/imagenet_scale.py --scale 0.05    # every size x 0.05 (a few minutes on 2 CPU cores)

Makes, on this machine, synthetic spaces of ImageNet's size (1,281,167 x 512 and x 2048 non-negative vectors in 1000
classes, 50,000 queries; lshbench.sources.synthesize) and a folder of JPEGs of ImageNet's typical size (500 x 375,
12,000 at scale 1), then times lshbench's own functions and prints one row per stage:

* embedding: the JPEG ImageFolder and a Hugging Face Parquet copy of it through lshbench's embedding path into
  ResNet-50 at 224 (bf16 on CUDA, fp32 on the CPU), beside the bare model's rate on ready tensors; and the input
  path alone (decode + resize to 224, no model) with the default decoder and the one it replaced beside it;
* mini-batch k-means K=10000 (x scale) on the 512-d gallery, k-means++ seeding included;
* neural LSH training on the 2048-d gallery, H=800, batch 256, 20 epochs (--epochs);
* evaluation of neural LSH J=80 L=8 and hyperplanes H=100 L=12 (almost no candidates): all queries, and single-query
  p50 latency; exact top-50 and exact evaluation;
* peak memory next to the gallery's size.
"""

from __future__ import annotations

import argparse
import os
import warnings
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lshbench.sources import open_split, prepare, synthesize  # noqa: E402
from lshbench.embed import build_model, embed_split, resolve_device  # noqa: E402
from lshbench.evaluate import Evaluator, exact_top_k  # noqa: E402
from lshbench.metrics import evaluate  # noqa: E402
from lshbench.io import read_embeddings  # noqa: E402
from lshbench.methods import Exact, HyperplaneLSH, KMeans, NeuralLSH  # noqa: E402
from lshbench.methods.neural import train_network  # noqa: E402

FULL = {"gallery": 1_281_167, "query": 50_000, "classes": 1000, "jpegs": 12_000, "K": 10_000}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_jpegs(folder: Path, n: int, classes: int = 10) -> None:
    """n JPEGs of 500 x 375 (quality 90): smooth random colour fields with noise, as photographs compress."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        low = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(low).resize((500, 375), Image.BICUBIC)
        pixels = np.asarray(image, dtype=np.int16) + rng.integers(-12, 12, (375, 500, 3))
        path = folder / f"class{i % classes:02d}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def make_parquet(images: Path, folder: Path) -> None:
    """A Hugging Face style local copy: Parquet files (train, test) with an Image column holding the JPEG bytes."""
    import datasets

    files = sorted(images.rglob("*.jpg"))
    classes = sorted({f.parent.name for f in files})
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=classes)})
    folder.mkdir(parents=True, exist_ok=True)
    half = len(files) // 5
    for split, part in (("train", files[half:]), ("test", files[:half])):
        rows = {"image": [{"bytes": f.read_bytes(), "path": f.name} for f in part],
                "label": [classes.index(f.parent.name) for f in part]}
        datasets.Dataset.from_dict(rows, features=features).to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


def input_rate(split, batch_size: int, workers: int, device, decoder: str) -> float:
    """Images per second the embedding's input path delivers (read, decode, resize to 224 on the device the
    embedding uses; no model): the better of two passes over the split (the first warms the page cache)."""
    from lshbench.embed import _batches

    rates = []
    for _ in range(2):
        sync(device)
        start = time.perf_counter()
        n = 0
        for batch, _ in _batches(split, batch_size, workers, pin=device.type == "cuda", size=224, device=device,
                                 decoder=decoder):
            n += len(batch)
        sync(device)
        rates.append(n / (time.perf_counter() - start))
    return max(rates)


@torch.inference_mode()
def bare_rate(model, device, batch_size: int, seconds: float = 5.0) -> float:
    model = model.to(device, memory_format=torch.channels_last).eval()
    x = torch.randn(batch_size, 3, 224, 224, device=device).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        model(x)
        sync(device)
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds or n == 0:
            model(x).float().cpu()
            n += batch_size
    return n / (time.perf_counter() - start)


def embedding_rows(work: Path, scale: float, device, workers: int, batch_size: int, bare_seconds: float
                   ) -> list[tuple]:
    rows = []
    n = max(60, round(FULL["jpegs"] * scale))
    images = work / "jpegs"
    make_jpegs(images, n)
    precision = "bf16" if device.type == "cuda" else "fp32"
    model = build_model("resnet50", None, seed=0)
    bare = bare_rate(model, device, batch_size, seconds=bare_seconds)
    parquet = work / "hf"
    make_parquet(images, parquet)
    sources = {
        "imagefolder": {"name": "jpegs", "source": "imagefolder", "path": str(images), "query_path": None,
                        "query_fraction": 0.2, "seed": 0},
        "huggingface parquet": {"name": "hf", "source": "huggingface", "hf_id": str(parquet), "hf_config": None,
                                "image_column": "image", "label_column": "label", "gallery_split": "train",
                                "query_split": "test", "seed": 0},
    }
    for label, cfg in sources.items():
        root = work / "resources" / cfg["name"]
        prepare(cfg, root)
        split = open_split(cfg, root, "gallery", image_size=224)
        # the default decoder (torchvision on CUDA, simplejpeg on the CPU) and the one it replaced beside it
        decoders = ("torchvision", "simplejpeg") if device.type == "cuda" else ("simplejpeg", "pil")
        feeds = {decoder: input_rate(split, batch_size, workers, device, decoder) for decoder in decoders}
        for decoder, feed in feeds.items():
            beside = "" if decoder == decoders[-1] else f"{feed / feeds[decoders[-1]]:.2f}x {decoders[-1]}"
            rows.append((f"input path, {label} JPEG -> 224, {decoder} (no model)", f"{len(split)} img", "",
                         f"{feed:,.0f} img/s", beside))
        start = time.perf_counter()
        embed_split(split, model, work / f"{cfg['name']}.parquet", image_size=224, batch_size=batch_size,
                    device=device, num_workers=workers, precision=precision, progress=False)
        rate = len(split) / (time.perf_counter() - start)
        rows.append((f"embedding, {label} -> ResNet-50 224 {precision}", f"{len(split)} img",
                     f"{len(split) / rate:.1f}", f"{rate:,.1f} img/s", f"bare {bare:,.1f} img/s ({rate / bare:.0%})"))
    return rows


def timed(device, function):
    sync(device)
    start = time.perf_counter()
    out = function()
    sync(device)
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every size (images, vectors, K)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--workers", type=int, default=None,
                        help="threads decoding JPEGs on the CPU (default: --threads)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--bare-seconds", type=float, default=10.0, help="how long the bare model is timed")
    parser.add_argument("--skip", nargs="*", default=[], choices=["embedding", "kmeans", "neural", "evaluation"])
    parser.add_argument("--work", default=None, help="folder for the generated data (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # read-only Parquet buffers
    device = resolve_device(args.device)
    workers = args.threads if args.workers is None else args.workers
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"lshbench at ImageNet-1k scale x {args.scale:g} on {name}\n", flush=True)
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        if "embedding" not in args.skip:
            rows += embedding_rows(work, args.scale, device, workers, args.batch_size, args.bare_seconds)
            print_rows(rows)
        cfg = {"name": "synthetic", "source": "synthetic", "seed": 0, "classes": FULL["classes"],
               "gallery_size": FULL["gallery"], "query_size": FULL["query"]}
        spaces = {}
        for model, dim in (("resnet18", 512), ("resnet50", 2048)):
            for split in ("gallery", "query"):
                path = work / f"{model}-{split}.parquet"
                _, seconds = timed(device, lambda: synthesize(cfg, model, dim, split, args.scale, path))
                spaces[model, split] = read_embeddings(path)
        g18, g50 = spaces["resnet18", "gallery"], spaces["resnet50", "gallery"]
        q18, q50 = spaces["resnet18", "query"], spaces["resnet50", "query"]
        if "kmeans" not in args.skip:
            K = max(10, round(FULL["K"] * args.scale))
            x = torch.from_numpy(g18.vectors).to(device)
            index, seconds = timed(device, lambda: KMeans(K, algorithm="minibatch", seed=0, device=device).fit(x))
            rows.append((f"mini-batch k-means K={K} (seeding included)", f"{len(x):,} x 512", f"{seconds:.1f}",
                         f"{index.iterations} passes", f"inertia {index.inertia:.4g}"))
            del x, index
        if "neural" not in args.skip:
            x, y = torch.from_numpy(g50.vectors).to(device), torch.from_numpy(g50.labels).to(device)
            (network, history), seconds = timed(device, lambda: train_network(x, y, H=800, epochs=args.epochs,
                                                                               batch_size=256, seed=0, device=device))
            rows.append((f"neural LSH training H=800 batch 256, {args.epochs} epochs", f"{len(x):,} x 2048",
                         f"{seconds:.1f}", f"{seconds / args.epochs:.2f} s/epoch",
                         f"final loss {history[-1]['total']:.4f}"))
            del x, y
        if "evaluation" not in args.skip:
            rows += evaluation_rows(device, g18, q18, g50, q50, network if "neural" not in args.skip else None)
        rows.append(("peak memory", f"gallery {g50.vectors.nbytes / 2**30:.2f} GiB (2048-d), "
                                    f"{g18.vectors.nbytes / 2**30:.2f} GiB (512-d)", "", f"{peak_mb(device):,.0f} MB",
                     "device" if device.type == "cuda" else "process RSS"))
    print_rows(rows, final=True)


def evaluation_rows(device, g18, q18, g50, q50, network) -> list[tuple]:
    rows = []
    for label, gallery, query, make in (
        ("hyperplanes H=100 L=12", g18, q18, lambda: HyperplaneLSH(100, 12, seed=0, device=device)),
        ("neural LSH J=80 L=8", g50, q50,
         (lambda: NeuralLSH([network], 80, 8, seed=0, device=device)) if network is not None else None),
        ("exact", g18, q18, lambda: Exact(device)),
    ):
        if make is None:
            continue
        rows += evaluation_row(device, label, gallery, query, make)
    return rows


def evaluation_row(device, label: str, gallery, query, make) -> list[tuple]:
    """One configuration evaluated as run_method does (exact top-50 first, then all queries and 200 single ones)."""
    x = torch.from_numpy(gallery.vectors)
    queries = torch.from_numpy(query.vectors).to(device)
    (_, scores), exact_seconds = timed(device, lambda: exact_top_k(x.to(device), queries, k=50))
    evaluator = Evaluator(x, torch.from_numpy(gallery.labels), queries, torch.from_numpy(query.labels), scores,
                          device=device, memory_mb=4096)
    index = make().fit(x.to(device))
    (_, summary), seconds = timed(device, lambda: evaluate(evaluator, index, latency_queries=200))
    rows = [(f"evaluation, {label}", f"{len(query):,} queries x {len(gallery):,}", f"{seconds:.2f}",
             f"p50 {summary['search_p50_ms']:.2f} ms",
             f"candidates {100 * summary['candidates_fraction']:.3f}%, recall@10 {summary['recall_at_10']:.3f}")]
    if label == "exact":
        rows.append(("exact top-50", f"{len(query):,} x {len(gallery):,}", f"{exact_seconds:.2f}", "", ""))
    return rows


def print_rows(rows, final: bool = False) -> None:
    header = ("stage", "size", "seconds", "rate", "beside")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    lines = [" | ".join(str(v).ljust(w) for v, w in zip(header, widths))]
    lines += ["-|-".join("-" * w for w in widths)]
    lines += [" | ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in rows]
    print(("final:\n" if final else "") + "\n".join(lines) + "\n", flush=True)


if __name__ == "__main__":
    main()
