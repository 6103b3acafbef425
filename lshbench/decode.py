"""Compressed images (JPEG, PNG, ... bytes from Parquet/Arrow columns or files) to batches of model-sized uint8 images.

Three decoders give the report's preprocessing (the whole image resized to the model's square size, bilinear with
antialiasing; normalisation follows in ``lshbench.embed.Preprocess``):

* ``torchvision``: a batch of JPEGs decoded by ``torchvision.io.decode_jpeg`` on the job's device (nvJPEG on CUDA,
  libjpeg-turbo on the CPU) and resized there (``F.interpolate(..., antialias=True)``, rounded to uint8); the default
  on CUDA. Anything it cannot take (PNG, CMYK or 16-bit images, a corrupt file) falls back to PIL, image by image.
* ``simplejpeg``: the default on the CPU. JPEGs (YCbCr or grayscale) are decoded by libjpeg-turbo through
  simplejpeg in a pool of threads and resized by torch's uint8 antialiased bilinear kernel (within 1 level of PIL's
  ``BILINEAR``); at 2 threads 1.7x the rate of PIL decoding and resizing (benchmarks/imagenet_scale.py).
  Where the target is at most half the image in both directions, the JPEG is decoded at a reduced size first
  (libjpeg-turbo's DCT scaling by a factor M/8 of at most 1/2, never below the target). Anything else (PNG, CMYK,
  a JPEG libjpeg-turbo reports as damaged) goes to PIL, image by image.
* ``pil``: PIL in a pool of threads (PIL releases the GIL while decoding and resampling), ``Image.BILINEAR`` resize;
  the reference. Where the target is at most half the image in both directions, a JPEG is decoded at a reduced
  size first (``Image.draft``: libjpeg's DCT scaling by 1/2, 1/4 or 1/8, never below the target).

An image that cannot be decoded is reported with its name (the caller skips it or fails), never embedded as zeros.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from .sources.base import BadImage, rgb_array

JPEG_MAGIC = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
DECODERS = ("auto", "simplejpeg", "pil", "torchvision")


def resolve(decoder: str, device: torch.device | str) -> str:
    """The decoder ``auto`` means on ``device``: torchvision's batches on CUDA, simplejpeg on the CPU."""
    if decoder not in DECODERS:
        raise ValueError(f"embedding.decoder must be one of {DECODERS}, not {decoder!r}")
    if decoder != "auto":
        return decoder
    return "torchvision" if torch.device(device).type == "cuda" else "simplejpeg"


def pil_decode(data: bytes, size: int, source: str, draft: bool = True) -> np.ndarray:
    """One image's bytes -> uint8 (size, size, 3) by PIL (modes as ``rgb_array``); raises BadImage naming it."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        if draft and image.format == "JPEG" and min(image.size) >= 2 * size:
            image.draft(image.mode, (size, size))  # DCT scaling, never below (size, size)
        image.load()  # decode now: a truncated file fails here
    except BadImage:
        raise
    except Exception as error:  # PIL's OSError (truncated), UnidentifiedImageError, ...
        raise BadImage(f"{source}: cannot decode ({type(error).__name__}: {error})") from None
    if image.mode == "RGB":  # most JPEGs: resize the decoded image itself (no array round trip)
        resized = image if image.size == (size, size) else image.resize((size, size), Image.BILINEAR)
        return np.asarray(resized, dtype=np.uint8)
    array = rgb_array(image, source)
    if array.shape[:2] == (size, size):
        return array
    return np.asarray(Image.fromarray(array).resize((size, size), Image.BILINEAR), dtype=np.uint8)


def resize_uint8(array: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (size, size, 3) on the CPU: torch's uint8 antialiased bilinear kernel (within 1 level
    of PIL's BILINEAR, about twice as fast)."""
    from torchvision.transforms.v2.functional import resize

    if array.shape[:2] == (size, size):
        return array
    # torchvision's resize keeps the (H, W, 3) layout of the view (F.interpolate's result would need a transpose)
    return resize(torch.from_numpy(array).permute(2, 0, 1), [size, size], antialias=True).permute(1, 2, 0).numpy()


def turbo_scaling(height: int, width: int, size: int) -> dict:
    """simplejpeg's arguments for reduced-size decoding: where the image is at least twice the target in both
    directions, the smallest DCT scale M/8 of at most 1/2 that keeps both sides at least ``size``; else none."""
    if min(height, width) < 2 * size:
        return {}
    return {"min_height": size, "min_width": size, "min_factor": 2}


def turbo_decode(data: bytes, size: int, draft: bool = True) -> np.ndarray | None:
    """A YCbCr or grayscale JPEG -> uint8 (size, size, 3) by libjpeg-turbo (simplejpeg) and ``resize_uint8``;
    None for anything else, or a JPEG libjpeg-turbo reports as damaged, so that PIL decodes it or names it."""
    import simplejpeg

    if data[:3] != JPEG_MAGIC:
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if colorspace not in ("YCbCr", "Gray"):  # CMYK / YCCK: PIL's Adobe inversion
            return None
        scaling = turbo_scaling(height, width, size) if draft else {}
        array = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True, **scaling)
    except ValueError:  # truncated, corrupt, or a warning under strict=True
        return None
    return resize_uint8(array, size)


def resize_on_device(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (size, size, 3): bilinear with antialiasing (as PIL's BILINEAR), rounded."""
    x = image.unsqueeze(0).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0)


class BatchDecoder:
    """A batch of encoded images -> (uint8 (B, size, size, 3) tensor, one error message or '' per image); decoded on
    the host, the batch is written straight into pinned memory where ``pin`` (for an asynchronous copy to CUDA).

    Images that fail are returned as zeros *with* their error, for the caller to skip or fail on."""

    def __init__(self, size: int, device: torch.device | str = "cpu", decoder: str = "auto", threads: int = 1,
                 draft: bool = True, pin: bool = False):
        self.size, self.device, self.draft, self.pin = size, torch.device(device), draft, pin
        self.decoder = resolve(decoder, self.device)
        self.pool = ThreadPoolExecutor(max(1, threads)) if threads > 1 else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def _cpu(self, blobs: list[bytes | None], names: list[str], errors: list[str], out: torch.Tensor,
             positions: list[int]) -> None:
        """simplejpeg (where it takes the image) or PIL on the images at ``positions``, in the thread pool, each
        written into its row of ``out`` by the thread that decoded it; a failure's message goes into ``errors``."""
        turbo = self.decoder == "simplejpeg"

        def one(k):
            if blobs[k] is None or errors[k]:
                errors[k] = errors[k] or f"{names[k]}: cannot decode"
                return
            try:
                array = turbo_decode(blobs[k], self.size, self.draft) if turbo else None
                if array is None:
                    array = pil_decode(blobs[k], self.size, names[k], self.draft)
            except BadImage as error:
                errors[k] = str(error)
                return
            if out.device.type == "cpu":
                np.copyto(out[k].numpy(), array)
            else:  # the torchvision decoder's fallback
                out[k].copy_(torch.tensor(array))

        if self.pool is not None:
            list(self.pool.map(one, positions))
        else:
            for k in positions:
                one(k)

    def __call__(self, blobs: list[bytes | None], names: list[str], errors: list[str] | None = None
                 ) -> tuple[torch.Tensor, list[str]]:
        errors = list(errors or [""] * len(blobs))
        on_device = self.decoder == "torchvision"
        out = torch.empty(len(blobs), self.size, self.size, 3, dtype=torch.uint8,
                          device=self.device if on_device else "cpu", pin_memory=self.pin and not on_device)
        pending = self._torchvision(blobs, errors, out) if on_device else list(range(len(blobs)))
        if pending:
            self._cpu(blobs, names, errors, out, pending)
        for i, message in enumerate(errors):
            if message:
                out[i].zero_()  # the caller skips or fails on it; never left as stale memory
        return out, errors

    def _torchvision(self, blobs: list[bytes | None], errors: list[str], out: torch.Tensor) -> list[int]:
        """Decode the plain JPEGs as one batch on the device; returns the positions left for the CPU decoders."""
        from torchvision.io import ImageReadMode, decode_jpeg

        # a JPEG without its end marker is truncated: PIL names it (a GPU decoder may fill the rest in silently)
        jpegs = [i for i, b in enumerate(blobs)
                 if b is not None and not errors[i] and b[:3] == JPEG_MAGIC and b.rstrip(b"\0")[-2:] == JPEG_END]
        taken = set(jpegs)
        rest = [i for i in range(len(blobs)) if i not in taken]
        if not jpegs:
            return rest
        tensors = [torch.frombuffer(bytearray(blobs[i]), dtype=torch.uint8) for i in jpegs]
        try:
            decoded = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=self.device)
        except RuntimeError:  # one bad or unusual JPEG fails the batch: decode one by one, the failures go to PIL
            decoded = []
            for tensor in tensors:
                try:
                    decoded.append(decode_jpeg(tensor, mode=ImageReadMode.RGB, device=self.device))
                except RuntimeError:
                    decoded.append(None)
        for i, image in zip(jpegs, decoded):
            if image is None or image.shape[0] != 3:
                rest.append(i)
            else:
                out[i] = resize_on_device(image, self.size)
        return sorted(rest)


def prefetch(chunks: Iterable, depth: int = 2) -> Iterator:
    """Iterate ``chunks`` on a background thread, ``depth`` items ahead (file and Arrow reads overlap the model)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []

    def work():
        try:
            for chunk in chunks:
                items.put(chunk)
        except BaseException as error:  # re-raised in the consumer
            failure.append(error)
        finally:
            items.put(done)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        item = items.get()
        if item is done:
            break
        yield item
    thread.join()
    if failure:
        raise failure[0]
