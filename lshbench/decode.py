"""Compressed images (JPEG, PNG, ... bytes from Parquet/Arrow columns or files) to batches of model-sized uint8 images.

Two decoders give the report's preprocessing (the whole image resized to the model's square size, bilinear with
antialiasing; normalisation follows in ``lshbench.embed.Preprocess``):

* ``torchvision``: a batch of JPEGs decoded by ``torchvision.io.decode_jpeg`` on the job's device (nvJPEG on CUDA,
  libjpeg-turbo on the CPU) and resized there (``F.interpolate(..., antialias=True)``, rounded to uint8); the default
  on CUDA. Anything it cannot take (PNG, CMYK or 16-bit images, a corrupt file) falls back to PIL, image by image.
* ``pil``: PIL in a pool of threads (PIL releases the GIL while decoding and resampling), ``Image.BILINEAR`` resize;
  the default on the CPU. Where the target is at most half the image in both directions, a JPEG is decoded at a
  reduced size first (``Image.draft``: libjpeg's DCT scaling by 1/2, 1/4 or 1/8, never below the target).

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

from .datasets import BadImage, rgb_array

JPEG_MAGIC = b"\xff\xd8\xff"
JPEG_END = b"\xff\xd9"
DECODERS = ("auto", "pil", "torchvision")


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


def resize_on_device(image: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (3, H, W) -> uint8 (size, size, 3): bilinear with antialiasing (as PIL's BILINEAR), rounded."""
    x = image.unsqueeze(0).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    return x.round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0)


class BatchDecoder:
    """A batch of encoded images -> (uint8 (B, size, size, 3) tensor, one error message or '' per image).

    Images that fail are returned as zeros *with* their error, for the caller to skip or fail on."""

    def __init__(self, size: int, device: torch.device | str = "cpu", decoder: str = "auto", threads: int = 1,
                 draft: bool = True):
        if decoder not in DECODERS:
            raise ValueError(f"embedding.decoder must be one of {DECODERS}, not {decoder!r}")
        self.size, self.device, self.draft = size, torch.device(device), draft
        self.decoder = ("torchvision" if self.device.type == "cuda" else "pil") if decoder == "auto" else decoder
        self.pool = ThreadPoolExecutor(max(1, threads)) if threads > 1 else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def _pil(self, blobs: list[bytes | None], names: list[str], errors: list[str]) -> list[np.ndarray | None]:
        """PIL on each image (in the thread pool); a failure's message goes into ``errors`` at its position."""

        def one(k):
            if blobs[k] is None or errors[k]:
                return None
            try:
                return pil_decode(blobs[k], self.size, names[k], self.draft)
            except BadImage as error:
                errors[k] = str(error)
                return None

        indices = range(len(blobs))
        return list(self.pool.map(one, indices)) if self.pool is not None else [one(k) for k in indices]

    def __call__(self, blobs: list[bytes | None], names: list[str], errors: list[str] | None = None
                 ) -> tuple[torch.Tensor, list[str]]:
        errors = list(errors or [""] * len(blobs))
        on_device = self.decoder == "torchvision"
        out = torch.zeros(len(blobs), self.size, self.size, 3, dtype=torch.uint8,
                          device=self.device if on_device else "cpu")
        pending = self._torchvision(blobs, errors, out) if on_device else list(range(len(blobs)))
        if pending:
            left = [errors[i] for i in pending]
            decoded = self._pil([blobs[i] for i in pending], [names[i] for i in pending], left)
            for i, array, message in zip(pending, decoded, left):
                if array is None:
                    errors[i] = message or f"{names[i]}: cannot decode"
                else:
                    out[i] = torch.from_numpy(array).to(out.device)
        return out, errors

    def _torchvision(self, blobs: list[bytes | None], errors: list[str], out: torch.Tensor) -> list[int]:
        """Decode the plain JPEGs as one batch on the device; returns the positions left for PIL."""
        from torchvision.io import ImageReadMode, decode_jpeg

        # a JPEG without its end marker is truncated: PIL names it (a GPU decoder may fill the rest in silently)
        jpegs = [i for i, b in enumerate(blobs)
                 if b is not None and not errors[i] and b[:3] == JPEG_MAGIC and b.rstrip(b"\0")[-2:] == JPEG_END]
        rest = [i for i in range(len(blobs)) if i not in set(jpegs)]
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
