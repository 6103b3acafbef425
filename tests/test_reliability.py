"""Bad input fails clearly and early, weights are never unpickled unchecked, images convert as a viewer shows them."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from builders import write_cifar10, write_imagefolder
from lshbench.sources import BadImage, DatasetUnavailable, open_split, prepare, rgb_array
from lshbench.embed import DeviceUnavailable, WeightsUnavailable, build_model, embed_split, fetch_weights, resolve_device
from lshbench.io import UnreadableFile, atomic_path, read_embeddings, read_metadata, read_neighbours


# --- images --------------------------------------------------------------------------------------------------------

def test_16_bit_png_is_scaled_not_saturated(tmp_path):
    values = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)  # 0 .. 65472
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = Image.open(tmp_path / "deep.png")
    assert image.mode.startswith("I")
    rgb = rgb_array(image)
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[..., 0], np.rint(values / 257).astype(np.uint8))
    assert abs(rgb.mean() - values.mean() / 257) < 0.5  # PIL's convert("RGB") gives ~255 almost everywhere


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA", "CMYK"])
def test_every_mode_converts_as_a_viewer_shows_it(mode):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:, :2] = (200, 40, 10)
    rgb[:, 2:] = (0, 0, 255)
    source = Image.fromarray(rgb)
    if mode == "L":
        image, expected = source.convert("L"), np.repeat(np.asarray(source.convert("L"))[..., None], 3, 2)
    elif mode == "1":
        image = Image.fromarray(np.array([[0, 255] * 2] * 4, dtype=np.uint8)).convert("1")
        expected = np.repeat(np.array([[0, 255] * 2] * 4, dtype=np.uint8)[..., None], 3, 2)
    elif mode == "P":
        image, expected = source.convert("P", palette=Image.ADAPTIVE, colors=4), rgb
    elif mode == "RGBA":
        alpha = np.full((4, 4, 1), 255, dtype=np.uint8)
        alpha[0, 0] = 0  # one transparent pixel: white, as a viewer shows it
        image = Image.fromarray(np.concatenate([rgb, alpha], 2), "RGBA")
        expected = rgb.copy()
        expected[0, 0] = 255
    elif mode == "LA":
        image = Image.fromarray(np.stack([np.full((4, 4), 100, np.uint8), np.full((4, 4), 255, np.uint8)], 2), "LA")
        expected = np.full((4, 4, 3), 100, dtype=np.uint8)
    else:
        image, expected = source.convert("CMYK"), rgb
    np.testing.assert_array_equal(rgb_array(image), expected)


def test_float_image_is_refused_with_its_name():
    with pytest.raises(BadImage, match="scan.tif: floating-point image"):
        rgb_array(Image.fromarray(np.ones((4, 4), dtype=np.float32)), "scan.tif")


@pytest.fixture
def folder_with_bad_image(tmp_path):
    root = tmp_path / "images"
    write_imagefolder(root, per_class=4, classes=2)
    bad = sorted((root / "class_1").iterdir())[0]
    bad.write_bytes(bad.read_bytes()[:60])  # truncated PNG
    cfg = {"name": "own", "source": "imagefolder", "path": str(root), "query_path": None, "query_fraction": 0.25,
           "seed": 0, "gallery_limit": None, "query_limit": None}
    split = open_split(cfg, tmp_path, "gallery", image_size=32)
    return split, bad


def test_corrupt_image_fails_with_its_path(folder_with_bad_image, tmp_path):
    split, bad = folder_with_bad_image
    out = tmp_path / "out.parquet"
    with pytest.raises(BadImage, match=f"{bad}: cannot decode") as error:
        embed_split(split, build_model("resnet18"), out, image_size=32, batch_size=4, progress=False)
    assert "on_bad_image: skip" in str(error.value)
    assert not out.exists()


def test_corrupt_image_skipped_and_counted_never_zeros(folder_with_bad_image, tmp_path):
    split, bad = folder_with_bad_image
    out = tmp_path / "out.parquet"
    bad_id = [i for i, name in zip(split.ids, split.encoded.names) if name == str(bad)]
    assert len(bad_id) == 1
    embed_split(split, build_model("resnet18"), out, image_size=32, batch_size=4, on_bad_image="skip", progress=False)
    written = read_embeddings(out)
    assert len(written) == len(split) - 1 and bad_id[0] not in written.ids
    meta = read_metadata(out)
    assert meta["skipped_images"] == 1 and str(bad) in meta["skipped"][0] and meta["rows"] == len(split) - 1
    zeros = build_model("resnet18")(torch.zeros(1, 3, 32, 32)).detach().numpy()
    assert not np.isclose(written.vectors, zeros, atol=1e-4).all(1).any()


# --- weights -------------------------------------------------------------------------------------------------------

class Payload:
    """A pickle that runs code when loaded with weights_only=False."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_weights_in_the_hub_cache_are_refused_unloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"x": Payload(marker)}, cache / "resnet18-f37072fd.pth")
    with pytest.raises(WeightsUnavailable, match="does not start with f37072fd") as error:
        fetch_weights("resnet18", "IMAGENET1K_V1", tmp_path / "out.pth")
    assert "resnet18-f37072fd.pth" in str(error.value)
    assert not marker.exists() and not (tmp_path / "out.pth").exists()


def test_random_weights_under_a_torchvision_name_are_refused(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.IMAGENET1K_V1.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(WeightsUnavailable, match=f"{path}: SHA-256 .* does not start with f37072fd"):
        build_model("resnet18", path, weights_name="IMAGENET1K_V1")
    build_model("resnet18", path)  # as a plain state-dict file (weights: <path>) it is the user's to choose


def test_a_state_dict_file_holding_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"fc.weight": Payload(marker)}, tmp_path / "model.pth")
    with pytest.raises(WeightsUnavailable, match="not a plain state dict of tensors"):
        build_model("resnet18", tmp_path / "model.pth")
    assert not marker.exists()


def test_a_verified_hub_file_is_copied_byte_for_byte(tmp_path, monkeypatch):
    import lshbench.embed as embed

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    import torchvision

    torch.save(torchvision.models.resnet18().state_dict(), cache / "resnet18-f37072fd.pth")
    prefix = hashlib.sha256((cache / "resnet18-f37072fd.pth").read_bytes()).hexdigest()[:8]
    monkeypatch.setattr(embed, "expected_hash_prefix", lambda arch, name: prefix)  # our file stands in for theirs
    fetch_weights("resnet18", "IMAGENET1K_V1", tmp_path / "out.pth")
    assert (tmp_path / "out.pth").read_bytes() == (cache / "resnet18-f37072fd.pth").read_bytes()


# --- files and devices ---------------------------------------------------------------------------------------------

def test_placed_cifar_archive_with_wrong_checksum_says_so(tmp_path):
    write_cifar10(tmp_path)
    cfg = {"name": "c10", "source": "cifar10", "verify_checksums": True, "seed": 0}
    with pytest.raises(DatasetUnavailable, match="the placed archive .*cifar-10-python.tar.gz has md5") as error:
        prepare(cfg, tmp_path)
    assert "verify_checksums: false" in str(error.value) and "download" not in str(error.value).split(".")[0]


def test_archive_that_is_not_gzip(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"<html>not found</html>")
    cfg = {"name": "c10", "source": "cifar10", "verify_checksums": False, "seed": 0}
    with pytest.raises(DatasetUnavailable, match="is not a readable .tar.gz archive"):
        prepare(cfg, tmp_path)


def test_parquet_that_is_not_parquet_names_the_fix(tmp_path):
    path = tmp_path / "gallery.parquet"
    path.write_text("not parquet")
    for read in (read_embeddings, read_metadata, read_neighbours):
        with pytest.raises(UnreadableFile, match=f"{path} cannot be read .* `--forcerun {path}`"):
            read(path)


def test_cuda_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceUnavailable, match="set device: auto or cpu"):
        resolve_device("cuda")


def test_leftover_temporary_files_are_removed_by_the_next_writer(tmp_path):
    target = tmp_path / "gallery.parquet"
    stale = tmp_path / ".gallery.parquet.tmp-12345"
    stale.write_text("left by a killed job")
    other = tmp_path / ".query.parquet.tmp-12345"
    other.write_text("someone else's")
    with atomic_path(target) as tmp:
        tmp.write_text("done")
    assert target.read_text() == "done" and not stale.exists() and other.exists()


def test_limit_below_the_classes_of_an_imagefolder_is_a_clear_error(tmp_path):
    write_imagefolder(tmp_path / "images", per_class=4, classes=3)
    cfg = {"name": "own", "source": "imagefolder", "path": str(tmp_path / "images"), "query_path": None,
           "query_fraction": 0.25, "seed": 0, "gallery_limit": 2, "query_limit": None}
    with pytest.raises(DatasetUnavailable, match="dataset .own.: gallery_limit: 2 keeps 2 of .* fewer than its 3 classes"):
        open_split(cfg, tmp_path, "gallery", image_size=32)
