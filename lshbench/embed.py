"""ResNet feature extraction: the report's preprocessing (resize to 224x224, ImageNet mean/std), penultimate layer.

Images reach the device as uint8 batches; conversion, resizing and normalisation run there on the whole batch.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .config import ARCHS, FEATURE_DIMS, weights_kind  # noqa: F401 (re-exported)
from .datasets import ImageSplit
from .io import EmbeddingWriter

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsUnavailable(RuntimeError):
    """Pretrained weights cannot be obtained; the message names the file to place."""


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{device}' was asked for but this job sees no CUDA device; use device: auto or cpu")
    return resolved


def torchvision_weights(arch: str, name: str):
    from torchvision.models import get_model_weights

    enum = get_model_weights(arch)
    try:
        return enum[name]
    except KeyError:
        raise WeightsUnavailable(
            f"{arch} has no torchvision weights named '{name}'; choose one of {[w.name for w in enum] + ['DEFAULT']}, "
            f"'none' (random initialisation) or the path of a state-dict file"
        ) from None


def fetch_weights(arch: str, name: str, destination: str | os.PathLike) -> None:
    """Download torchvision's ``name`` weights for ``arch`` (through the torch hub cache) and save the state dict."""
    from .io import atomic_path

    weights = torchvision_weights(arch, name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        state = weights.get_state_dict(progress=True, check_hash=True)
    except Exception as error:
        raise WeightsUnavailable(
            f"could not obtain {arch} weights {weights} from {weights.url} ({type(error).__name__}: {error}). "
            f"On a machine without internet, place {Path(weights.url).name} at {cached} "
            f"(TORCH_HOME sets the folder) or set the model's weights to the path of a local state-dict file."
        ) from error
    with atomic_path(destination) as tmp:
        torch.save(state, tmp)


def build_model(arch: str, weights_file: str | os.PathLike | None = None, seed: int = 0) -> torch.nn.Module:
    """``arch`` with its classifier removed; random (seeded) initialisation when ``weights_file`` is None."""
    import torchvision

    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; one of {ARCHS}")
    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None)
    if weights_file is not None:
        path = Path(weights_file)
        if not path.is_file():
            raise WeightsUnavailable(f"weights file {path} does not exist; place a {arch} state-dict file there")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise WeightsUnavailable(f"weights file {path} is not a {arch} state dict: {error}") from error
    model.fc = torch.nn.Identity()
    return model.eval()


class Preprocess(torch.nn.Module):
    """uint8 (N, H, W, C) on the device -> normalised float (N, 3, S, S), channels_last."""

    def __init__(self, image_size: int):
        super().__init__()
        self.image_size = image_size
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("scale", (1.0 / (255.0 * std)).view(1, 3, 1, 1))
        self.register_buffer("shift", (-mean / std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float()  # NHWC memory seen as NCHW is already channels_last
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        return torch.addcmul(self.shift, x, self.scale).contiguous(memory_format=torch.channels_last)


def _batches(split: ImageSplit, batch_size: int, num_workers: int, pin: bool):
    if split.images is not None:
        for start in range(0, len(split), batch_size):
            batch = torch.from_numpy(split.images[start : start + batch_size])
            yield batch.pin_memory() if pin else batch
        return
    loader = torch.utils.data.DataLoader(
        split.items,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin,
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
    )
    yield from loader


def library_versions() -> dict:
    import pyarrow
    import torchvision

    return {
        "lshbench": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "python": platform.python_version(),
    }


@torch.inference_mode()
def embed_split(
    split: ImageSplit,
    model: torch.nn.Module,
    out_path: str | os.PathLike,
    *,
    image_size: int,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    precision: str = "fp32",
    metadata: dict | None = None,
    progress: bool = True,
) -> dict:
    """Embed every image of ``split`` and write the Parquet file; returns the metadata written (with timings).

    ``precision``: fp32 (the reproduction: TF32 is switched off on CUDA, so convolutions and products are true
    float32) or bf16 (autocast: about twice the speed on GPUs, features rounded)."""
    from tqdm import tqdm

    device = torch.device(device)
    model = model.to(device, memory_format=torch.channels_last).eval()
    preprocess = Preprocess(image_size).to(device)
    if precision not in PRECISIONS:
        raise ValueError(f"embedding precision must be one of {PRECISIONS}, not {precision!r}")
    cuda = device.type == "cuda"
    bf16 = precision == "bf16"
    if cuda:
        torch.backends.cudnn.allow_tf32 = bf16
        torch.backends.cuda.matmul.allow_tf32 = bf16
    dim = model(preprocess(torch.zeros(1, image_size, image_size, 3, dtype=torch.uint8, device=device))).shape[1]
    meta = {
        **(metadata or {}),
        "dataset": split.dataset,
        "split": split.split,
        "image_size": image_size,
        "dim": int(dim),
        "rows": len(split),
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if cuda else ""),
        "precision": precision,
        "autocast": "bfloat16" if bf16 else "none",
        "class_names": split.class_names,
        "versions": library_versions(),
    }
    start = time.perf_counter()
    with EmbeddingWriter(out_path, dim, meta) as writer:
        done = 0
        bar = tqdm(total=len(split), unit="img", desc=f"{split.dataset}/{split.split}", disable=not progress)
        for batch in _batches(split, batch_size, num_workers, pin=cuda):
            batch = batch.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                features = model(preprocess(batch))
            vectors = features.float().cpu().numpy()
            n = len(vectors)
            writer.write(split.ids[done : done + n], split.labels[done : done + n], vectors)
            done += n
            bar.update(n)
        bar.close()
        if done != len(split):
            raise RuntimeError(f"embedded {done} images but the split has {len(split)}")
    seconds = time.perf_counter() - start
    log.info("%s/%s: %d images in %.1f s (%.1f img/s) on %s", split.dataset, split.split, done, seconds,
             done / max(seconds, 1e-9), meta["device"])
    return {**meta, "seconds": seconds}
