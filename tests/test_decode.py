"""Every decoding path gives the report's preprocessing (the whole image resized to the model's size, bilinear with
antialiasing): the same small JPEG set embedded through PIL (the reference), PIL with reduced-size JPEG decoding,
simplejpeg (libjpeg-turbo) with torch's uint8 resize, whole and reduced-size, torchvision's batch decoder (on the CPU here, and on CUDA where there is one), from an ImageFolder and from a Hugging
Face Parquet copy; and a corrupt image is named or skipped, never embedded as zeros."""

import io

import numpy as np
import pytest
import simplejpeg
import torch
from PIL import Image

from lshbench.sources import BadImage, EncodedImages, ImageSplit, open_split, prepare
from lshbench.decode import BatchDecoder, pil_decode, turbo_decode, turbo_scaling
from lshbench.embed import build_model, embed_split
from lshbench.io import read_embeddings, read_metadata

SIZE = 32


def photo(seed: int, mode: str = "RGB", size=(120, 90)) -> Image.Image:
    """A smooth colour field with noise (as photographs compress), in ``mode``."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)
    pixels = np.asarray(low, dtype=np.int16) + rng.integers(-10, 10, (size[1], size[0], 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).convert(mode)


def encoded(image: Image.Image, kind: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **({"quality": 90} if kind == "JPEG" else {}))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def blobs():
    """10 RGB JPEGs, a grayscale JPEG, a CMYK JPEG and a PNG."""
    items = [encoded(photo(i)) for i in range(10)]
    items += [encoded(photo(10, "L")), encoded(photo(11, "CMYK")), encoded(photo(12), "PNG")]
    return items


def split_of(blobs: list[bytes]) -> ImageSplit:
    names = [f"image {i}" for i in range(len(blobs))]
    reader = EncodedImages(lambda start, stop: (blobs[start:stop], [""] * (stop - start)), names)
    n = len(blobs)
    return ImageSplit("test", "gallery", np.arange(n), np.zeros(n, np.int32), encoded=reader)


def features(split: ImageSplit, tmp_path, **kwargs) -> np.ndarray:
    out = tmp_path / f"{len(list(tmp_path.iterdir()))}.parquet"
    embed_split(split, build_model("resnet18", seed=0), out, image_size=SIZE, batch_size=4, progress=False,
                **kwargs)
    return read_embeddings(out).vectors


def relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)


def test_torchvision_decoder_matches_pil_pixels(blobs):
    reference = torch.stack([torch.from_numpy(pil_decode(b, SIZE, "x", draft=False)) for b in blobs])
    images, errors = BatchDecoder(SIZE, "cpu", decoder="torchvision")(blobs, [f"{i}" for i in range(len(blobs))])
    assert errors == [""] * len(blobs)
    # the same libjpeg IDCT; torch's antialiased bilinear resize against PIL's: at most 1 level apart
    assert (images.int() - reference.int()).abs().max() <= 1


def test_simplejpeg_decoder_matches_pil_pixels(blobs):
    reference = torch.stack([torch.from_numpy(pil_decode(b, SIZE, "x", draft=False)) for b in blobs])
    decode = BatchDecoder(SIZE, "cpu", decoder="simplejpeg", draft=False, threads=2)
    images, errors = decode(blobs, [f"{i}" for i in range(len(blobs))])
    decode.close()
    assert errors == [""] * len(blobs)
    # libjpeg-turbo's IDCT in both; torch's uint8 antialiased bilinear resize against PIL's: at most 1 level apart
    assert (images.int() - reference.int()).abs().max() <= 1
    assert torch.equal(images[11:], reference[11:])  # the CMYK JPEG and the PNG go to PIL
    assert turbo_decode(blobs[11], SIZE) is None and turbo_decode(blobs[12], SIZE) is None
    assert turbo_decode(blobs[3][: len(blobs[3]) // 2], SIZE) is None  # truncated: PIL names it


def test_reduced_size_decoding_never_goes_below_the_target():
    big = encoded(photo(0, size=(500, 375)))
    for size, factor in ((224, 1), (160, 1 / 2), (112, 3 / 8), (64, 1 / 4), (32, 1 / 8)):
        decoded = simplejpeg.decode_jpeg(big, colorspace="RGB", **turbo_scaling(375, 500, size))
        assert min(decoded.shape[:2]) >= size
        assert decoded.shape[:2] == (-(-375 * factor // 1), -(-500 * factor // 1))


def reference_features(blobs: list[bytes]) -> np.ndarray:
    """The report's preprocessing by hand: PIL decodes the whole image, resizes it (bilinear), ImageNet mean/std."""
    from lshbench.embed import Preprocess

    full = torch.stack([torch.from_numpy(pil_decode(b, SIZE, "x", draft=False)) for b in blobs])
    with torch.inference_mode():
        return build_model("resnet18", seed=0).eval()(Preprocess(SIZE)(full)).numpy()


def test_every_path_gives_the_reference_features(blobs, tmp_path):
    """Tolerances, as the relative L2 distance of each image's features to the reference: torchvision's decoder 1%
    (the same libjpeg IDCT; pixels at most 1 level apart, from rounding after torch's resize); reduced-size JPEG
    decoding 5% (libjpeg's DCT scaling averages blocks before the bilinear resize, a slightly different low-pass
    filter; simplejpeg may pick a scale M/8 other than PIL's 1/2^k); PIL in threads 0 (the same code on the same
    bytes)."""
    reference = reference_features(blobs)
    tv = features(split_of(blobs), tmp_path, decoder="torchvision", num_workers=0)
    assert relative(tv, reference).max() < 0.01
    drafted = features(split_of(blobs), tmp_path, decoder="pil", num_workers=0)
    assert relative(drafted, reference).max() < 0.05
    assert relative(drafted[12:], reference[12:]).max() < 1e-6  # the PNG is decoded whole
    threaded = features(split_of(blobs), tmp_path, decoder="pil", num_workers=3)
    np.testing.assert_array_equal(threaded, drafted)
    turbo = features(split_of(blobs), tmp_path, decoder="simplejpeg", num_workers=2)
    assert relative(turbo, reference).max() < 0.05
    assert relative(turbo[11:], drafted[11:]).max() < 1e-6  # CMYK and PNG: PIL, as in the pil decoder


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: nvJPEG cannot be compared")
def test_cuda_decoder_matches_the_reference(blobs, tmp_path):
    cuda = features(split_of(blobs), tmp_path, decoder="torchvision", device="cuda")
    assert relative(cuda, reference_features(blobs)).max() < 0.02  # nvJPEG's IDCT, chroma upsampling differ a little


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cpu_decoding_feeds_a_cuda_model_through_the_copy_stream(blobs, tmp_path):
    """Batches decoded on the host reach the model through the side copy stream: the features are the CPU's (float32
    on both, TF32 off), so no batch is read before its copy has landed."""
    on_cpu = features(split_of(blobs * 4), tmp_path, decoder="simplejpeg", num_workers=2)
    on_cuda = features(split_of(blobs * 4), tmp_path, decoder="simplejpeg", num_workers=2, device="cuda")
    assert relative(on_cuda, on_cpu).max() < 1e-3


def test_parquet_and_imagefolder_sources_agree(tmp_path):
    import datasets

    root = tmp_path / "images"
    for i in range(12):
        path = root / f"class{i % 3}" / f"{i:02d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo(i).save(path, quality=90)
    files = sorted(root.rglob("*.jpg"))
    features_ = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b", "c"])})
    rows = {"image": [{"bytes": f.read_bytes(), "path": None} for f in files],
            "label": [int(f.parent.name[-1]) for f in files]}
    (tmp_path / "hf").mkdir()
    for split in ("train", "test"):
        datasets.Dataset.from_dict(rows, features=features_).to_parquet(str(tmp_path / "hf" / f"{split}-0.parquet"))
    hf = {"name": "hf", "source": "huggingface", "hf_id": str(tmp_path / "hf"), "hf_config": None,
          "image_column": "image", "label_column": "label", "gallery_split": "train", "query_split": "test", "seed": 0,
          "gallery_limit": None}
    folder = {"name": "own", "source": "imagefolder", "path": str(root), "query_path": str(root), "seed": 0,
              "gallery_limit": None}
    prepare(hf, tmp_path / "res-hf")
    a = features(open_split(hf, tmp_path / "res-hf", "gallery", SIZE), tmp_path, num_workers=2)
    b = features(open_split(folder, tmp_path / "res-folder", "gallery", SIZE), tmp_path, num_workers=2)
    np.testing.assert_array_equal(a, b)
    for written in tmp_path.glob("*.parquet"):
        assert read_metadata(written)["decoder"] == "simplejpeg"  # auto on the CPU


@pytest.mark.parametrize("decoder", ["simplejpeg", "pil", "torchvision"])
def test_a_corrupt_jpeg_is_named_or_skipped_never_zeros(blobs, decoder, tmp_path):
    broken = list(blobs)
    broken[3] = broken[3][: len(broken[3]) // 2]  # truncated
    with pytest.raises(BadImage, match="image 3: cannot decode"):
        features(split_of(broken), tmp_path, decoder=decoder)
    out = tmp_path / "skip.parquet"
    embed_split(split_of(broken), build_model("resnet18", seed=0), out, image_size=SIZE, batch_size=4,
                progress=False, decoder=decoder, on_bad_image="skip")
    written = read_embeddings(out)
    assert 3 not in written.ids and len(written) == len(blobs) - 1
    skipped = read_metadata(out)["skipped"]
    assert len(skipped) == 1 and skipped[0].startswith("image 3: cannot decode")
    zeros = reference_features([encoded(Image.new("RGB", (SIZE, SIZE)))])  # what a black image would give
    assert not np.isclose(written.vectors, zeros, atol=1e-4).all(1).any()
