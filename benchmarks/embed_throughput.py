"""Embedding-stage throughput next to the bare model's forward throughput (same device, batch and image size).

    python benchmarks/embed_throughput.py --threads 2 --sizes 224 32

The stage is lshbench.embed.embed_split on CIFAR-shaped uint8 images held in memory (32x32, resized on the device),
writing a real Parquet file; the bare rate is the same channels_last model on ready-made normalised input tensors.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lshbench.sources import ImageSplit
from lshbench.embed import build_model, embed_split, resolve_device


PRECISION = {"cuda": "bf16", "cpu": "fp32"}  # what the bare rate uses: bf16 autocast on CUDA only


@torch.inference_mode()
def bare_rate(model, device, batch_size, image_size, batches):
    model = model.to(device, memory_format=torch.channels_last)
    x = torch.randn(batch_size, 3, image_size, image_size, device=device).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        model(x)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(batches):
            model(x).float().cpu()
    return batches * batch_size / (time.perf_counter() - start)


def stage_rate(model, device, batch_size, image_size, batches, folder):
    n = batches * batch_size
    images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    split = ImageSplit("bench", "gallery", np.arange(n), np.zeros(n, dtype=np.int32), images=images)
    warm = ImageSplit("bench", "gallery", np.arange(batch_size), np.zeros(batch_size, np.int32), images=images[:batch_size])
    embed_split(warm, model, folder / "warm.parquet", image_size=image_size, batch_size=batch_size, device=device,
                precision=PRECISION[torch.device(device).type], progress=False)
    start = time.perf_counter()
    embed_split(split, model, folder / "stage.parquet", image_size=image_size, batch_size=batch_size, device=device,
                precision=PRECISION[torch.device(device).type], progress=False)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 32])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=0, help="batches per measurement (0: enough for ~10 s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs of each")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = build_model(args.arch, seed=0)
    print(f"{args.arch}, batch {args.batch_size}, device {device}, {torch.get_num_threads()} threads")
    print(f"{'image size':>10} {'bare img/s':>11} {'stage img/s':>12} {'stage/bare':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            batches = args.batches or max(2, int(10 * bare_rate(model, device, args.batch_size, size, 1) / args.batch_size))
            bare = max(bare_rate(model, device, args.batch_size, size, batches) for _ in range(args.repeats))
            stage = max(stage_rate(model, device, args.batch_size, size, batches, Path(tmp)) for _ in range(args.repeats))
            print(f"{size:>10} {bare:>11.1f} {stage:>12.1f} {stage / bare:>10.1%}")


if __name__ == "__main__":
    main()
