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
from .errors import ConfigError  # noqa: F401 (re-exported)
from .models import ARCHS, FEATURE_DIMS, weights_kind  # noqa: F401 (re-exported)
from .sources.base import BadImage, ImageSplit
from .io import EmbeddingWriter

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


from .errors import DeviceUnavailable, WeightsUnavailable  # noqa: E402,F401 (raised here, imported from here too)
from .device import resolve_device  # noqa: E402,F401 (re-exported)


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


def expected_hash_prefix(arch: str, name: str) -> str:
    """The SHA-256 prefix torchvision's file name carries: resnet18-f37072fd.pth -> 'f37072fd'."""
    url = torchvision_weights(arch, name).url
    return Path(url).stem.rsplit("-", 1)[-1]


def check_weights_hash(path: str | os.PathLike, arch: str, name: str) -> None:
    """A named weights file must have the SHA-256 torchvision's file name promises, wherever it comes from; a file
    with another hash (corrupt, another model, random weights saved under that name, a crafted pickle) is refused
    before it is loaded."""
    from .io import sha256

    expected = expected_hash_prefix(arch, name)
    digest = sha256(path)
    if not digest.startswith(expected):
        raise WeightsUnavailable(
            f"{path}: SHA-256 {digest[:16]}... does not start with {expected}, the hash of torchvision's "
            f"{arch} {name} weights ({Path(torchvision_weights(arch, name).url).name}); the file is corrupt or not "
            f"those weights. Replace it with torchvision's file, or name a state-dict file in the model's weights."
        )


def fetch_weights(arch: str, name: str, destination: str | os.PathLike, attempts: int = 3) -> None:
    """Copy torchvision's ``name`` weights for ``arch`` into ``destination``: from the torch hub cache if present,
    else downloaded into it. The file's SHA-256 is checked against the prefix in torchvision's file name in both
    cases, and nothing is unpickled here (the embedding job loads it with ``weights_only=True``)."""
    import shutil
    import urllib.error

    from .io import atomic_path

    weights = torchvision_weights(arch, name)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            try:  # torch's downloader checks the hash prefix and writes the file only when it matches
                torch.hub.download_url_to_file(weights.url, str(cached), hash_prefix=expected_hash_prefix(arch, name),
                                               progress=True)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:  # transient: try again
                if attempt == attempts:
                    raise WeightsUnavailable(
                        f"could not download {arch} weights {weights} from {weights.url} ({type(error).__name__}: "
                        f"{error}). On a machine without internet, place {cached.name} at {cached} (TORCH_HOME "
                        f"sets the folder) or set the model's weights to the path of a local state-dict file."
                    ) from error
            except RuntimeError as error:  # invalid hash: not transient
                raise WeightsUnavailable(f"{weights.url}: {error}") from error
    check_weights_hash(cached, arch, name)
    with atomic_path(destination) as tmp:
        shutil.copyfile(cached, tmp)


def build_model(arch: str, weights_file: str | os.PathLike | None = None, seed: int = 0,
                weights_name: str | None = None) -> torch.nn.Module:
    """``arch`` with its classifier removed; random (seeded) initialisation when ``weights_file`` is None.

    With ``weights_name`` (torchvision's, e.g. IMAGENET1K_V1) the file's SHA-256 must match torchvision's; any file
    is loaded with ``weights_only=True`` (tensors only, no code)."""
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if arch not in known:
        raise ConfigError(f"models[].arch: {arch!r} is not a torchvision classification model; one of {known}")
    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None)
    if weights_file is not None:
        path = Path(weights_file)
        if not path.is_file():
            raise WeightsUnavailable(f"weights file {path} does not exist; place a {arch} state-dict file there")
        if weights_name is not None:
            check_weights_hash(path, arch, weights_name)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # an UnpicklingError for anything beyond tensors, or not a torch file at all
            raise WeightsUnavailable(f"weights file {path} is not a plain state dict of tensors ({type(error).__name__}: "
                                     f"{str(error).splitlines()[0]}); it is refused unloaded") from error
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            raise WeightsUnavailable(f"weights file {path} is not a {arch} state dict: {error}") from error
    remove_classifier(model, arch)
    return model.eval()


def remove_classifier(model: torch.nn.Module, arch: str) -> None:
    """Replace the model's last linear layer (ResNet's fc, MobileNet's classifier[-1], ViT's heads.head, ...) by the
    identity, so the model returns the features before it (ResNet: the 512/2048-d pooled features, as the report)."""
    linear = [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]
    if not linear:
        raise ConfigError(f"models[].arch: {arch} has no linear classifier layer to remove (e.g. SqueezeNet's is a "
                          f"convolution); choose another model")
    *parents, last = linear[-1].split(".")
    owner = model
    for name in parents:
        owner = getattr(owner, name)
    setattr(owner, last, torch.nn.Identity())


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


def _batches(split: ImageSplit, batch_size: int, threads: int, pin: bool, size: int, device: torch.device,
             decoder: str = "auto"):
    """(uint8 batch, per-image decoding errors or None) in the split's order. Compressed images are read on a
    background thread in chunks of a batch and decoded a batch at a time (lshbench.decode)."""
    from .decode import BatchDecoder, prefetch

    if split.images is not None:
        for start in range(0, len(split), batch_size):
            batch = torch.from_numpy(split.images[start : start + batch_size])
            yield (batch.pin_memory() if pin else batch), None
        return
    decode = BatchDecoder(size, device, decoder=decoder, threads=threads, pin=pin)
    try:
        for blobs, names, errors in prefetch(split.encoded.chunks(batch_size)):
            yield decode(blobs, names, errors)
    finally:
        decode.close()


def to_device(batch: torch.Tensor, device: torch.device, copies) -> torch.Tensor:
    """A host batch to ``device``. On CUDA the copy goes on the side stream ``copies``: from pinned memory it is
    asynchronous, so it runs while the model still works on the previous batch; the model's stream waits for it."""
    if copies is None or batch.device.type == device.type:
        return batch.to(device)
    with torch.cuda.stream(copies):
        moved = batch.to(device, non_blocking=True)
    compute = torch.cuda.current_stream(device)
    compute.wait_stream(copies)
    moved.record_stream(compute)  # the allocator must not reuse it before the model is done with it
    return moved


class BackgroundWriter:
    """``EmbeddingWriter.write`` on a thread, which also brings each batch's features to the host: the device's next
    batch is decoded and queued while this one is copied back and encoded to Parquet."""

    def __init__(self, writer):
        import queue
        import threading

        self.writer, self.queue, self.failure = writer, queue.Queue(maxsize=4), None
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def _work(self):
        while (item := self.queue.get()) is not None:
            if self.failure is None:
                try:
                    ids, labels, features = item
                    self.writer.write(ids, labels, features.cpu().numpy())
                except BaseException as error:  # re-raised by put/close in the embedding loop
                    self.failure = error

    def put(self, ids, labels, vectors):
        if self.failure is not None:
            raise self.failure
        self.queue.put((ids, labels, vectors))

    def close(self):
        self.queue.put(None)
        self.thread.join()
        if self.failure is not None:
            raise self.failure


def library_versions() -> dict:
    import pyarrow
    import simplejpeg
    import torchvision

    return {
        "lshbench": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "pyarrow": pyarrow.__version__,
        "simplejpeg": simplejpeg.__version__,
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
    decoder: str = "auto",
    precision: str = "fp32",
    on_bad_image: str = "fail",
    metadata: dict | None = None,
    progress: bool = True,
) -> dict:
    """Embed every image of ``split`` and write the Parquet file; returns the metadata written (with timings).

    ``precision``: fp32 (the reproduction: TF32 is switched off on CUDA, so convolutions and products are true
    float32) or bf16 (autocast: about twice the speed on GPUs, features rounded). ``on_bad_image``: an image that
    cannot be decoded fails the job with its name ('fail') or is left out and counted in the metadata ('skip').
    ``num_workers``: threads that decode compressed images on the CPU; ``decoder``: auto (torchvision's decode_jpeg
    on CUDA, simplejpeg on the CPU), simplejpeg, pil or torchvision (lshbench.decode)."""
    from tqdm import tqdm

    from .decode import resolve as resolve_decoder

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
        **({"decoder": resolve_decoder(decoder, device)} if split.images is None else {}),
        "class_names": split.class_names,
        "versions": library_versions(),
    }
    start = time.perf_counter()
    skipped: list[str] = []
    with EmbeddingWriter(out_path, dim, meta) as writer:
        background = BackgroundWriter(writer)
        copies = torch.cuda.Stream(device) if cuda else None  # host-to-device copies beside the model's stream
        try:
            done = 0
            bar = tqdm(total=len(split), unit="img", desc=f"{split.dataset}/{split.split}", disable=not progress)
            for batch, errors in _batches(split, batch_size, num_workers, pin=cuda, size=image_size, device=device,
                                          decoder=decoder):
                n = len(batch)
                ids, labels = split.ids[done : done + n], split.labels[done : done + n]
                bad = [e for e in errors or [] if e]
                if bad:
                    if on_bad_image != "skip":
                        more = f" ({len(bad) - 1} more in this batch)" if len(bad) > 1 else ""
                        raise BadImage(f"{bad[0]}{more}. Fix or remove the file, or set embedding.on_bad_image: skip "
                                       f"to leave such images out (they are counted in the embedding's metadata)")
                    keep = torch.tensor([not e for e in errors])
                    batch, ids, labels = batch[keep], ids[keep.numpy()], labels[keep.numpy()]
                    skipped += bad
                    log.warning("skipped %d image(s): %s", len(bad), "; ".join(bad[:3]))
                if len(batch):
                    batch = to_device(batch, device, copies)
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                        features = model(preprocess(batch))
                    background.put(ids, labels, features.float())  # to the host on the writer thread
                done += n
                bar.update(n)
            bar.close()
        finally:
            background.close()  # also on an error: the file is not closed under the writing thread
        if done != len(split):
            raise RuntimeError(f"embedded {done} images but the split has {len(split)}")
        writer.metadata |= {"skipped_images": len(skipped), "skipped": skipped[:100]}
    seconds = time.perf_counter() - start
    log.info("%s/%s: %d images in %.1f s (%.1f img/s) on %s", split.dataset, split.split, done, seconds,
             done / max(seconds, 1e-9), meta["device"])
    return {**meta, "seconds": seconds}
