import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torchvision.transforms.v2.functional as TF

from lshbench.sources import ImageSplit
from lshbench.embed import IMAGENET_MEAN, IMAGENET_STD, Preprocess, WeightsUnavailable, build_model, embed_split
from lshbench.io import read_embeddings, read_metadata


def tiny_split(n=10, size=32, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8)
    return ImageSplit("toy", "gallery", np.arange(100, 100 + n), (np.arange(n) % 3).astype(np.int32), images=images)


def test_preprocess_matches_per_image_torchvision_transforms():
    split = tiny_split(n=3, size=20)
    batch = Preprocess(48)(torch.from_numpy(split.images))
    for i, image in enumerate(split.images):
        x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
        x = TF.resize(x, [48, 48], antialias=True)
        x = TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD)
        torch.testing.assert_close(batch[i], x, atol=1e-4, rtol=1e-4)
    assert batch.is_contiguous(memory_format=torch.channels_last)


def test_grey_images_are_repeated_to_three_channels():
    grey = tiny_split(n=2, size=16, channels=1)
    batch = Preprocess(16)(torch.from_numpy(grey.images))
    assert batch.shape == (2, 3, 16, 16)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    torch.testing.assert_close((batch * std + mean)[:, 0], (batch * std + mean)[:, 2])


def test_embedding_file_schema_and_determinism(tmp_path):
    split = tiny_split(n=10)
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (first, second):
        embed_split(split, build_model("resnet18", seed=3), path, image_size=32, batch_size=4,
                    metadata={"model": "r18", "weights": "none"}, progress=False)
    table = pq.read_table(first)
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("label").type == pa.int32()
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 512)
    a, b = read_embeddings(first), read_embeddings(second)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.ids, split.ids)
    np.testing.assert_array_equal(a.labels, split.labels)
    meta = read_metadata(first)
    assert meta["model"] == "r18" and meta["image_size"] == 32 and meta["device"] == "cpu" and meta["rows"] == 10
    assert {"torch", "torchvision", "pyarrow", "lshbench"} <= set(meta["versions"])
    other = tmp_path / "c.parquet"
    embed_split(split, build_model("resnet18", seed=4), other, image_size=32, progress=False)
    assert not np.allclose(read_embeddings(other).vectors, a.vectors)


def test_batch_size_does_not_change_embeddings(tmp_path):
    split = tiny_split(n=7)
    model = build_model("resnet18", seed=0)
    embed_split(split, model, tmp_path / "one.parquet", image_size=32, batch_size=7, progress=False)
    embed_split(split, model, tmp_path / "many.parquet", image_size=32, batch_size=3, progress=False)
    np.testing.assert_allclose(read_embeddings(tmp_path / "one.parquet").vectors,
                               read_embeddings(tmp_path / "many.parquet").vectors, rtol=1e-4, atol=1e-5)


def test_failed_embedding_leaves_no_file(tmp_path):
    split = tiny_split(n=5)
    split.labels = split.labels[:2]  # corrupt: fewer labels than images

    target = tmp_path / "out.parquet"
    with pytest.raises(Exception):
        embed_split(split, build_model("resnet18"), target, image_size=32, batch_size=2, progress=False)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_local_state_dict_file(tmp_path):
    import torchvision

    torch.manual_seed(11)
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), tmp_path / "r18.pth")
    loaded = build_model("resnet18", tmp_path / "r18.pth", seed=0)
    reference.fc = torch.nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference.eval()(x))


def test_wrong_or_missing_state_dict(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet50().state_dict(), tmp_path / "r50.pth")
    with pytest.raises(WeightsUnavailable, match="not a resnet18 state dict"):
        build_model("resnet18", tmp_path / "r50.pth")
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        build_model("resnet18", tmp_path / "absent.pth")


def test_named_weights_offline_name_the_file_to_place(tmp_path, monkeypatch):
    from lshbench.embed import fetch_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    with pytest.raises(WeightsUnavailable) as error:
        fetch_weights("resnet18", "IMAGENET1K_V1", tmp_path / "out.pth")
    assert "resnet18-f37072fd.pth" in str(error.value)
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in str(error.value)
    with pytest.raises(WeightsUnavailable, match="IMAGENET1K_V1"):
        fetch_weights("resnet18", "IMAGENET9K", tmp_path / "out.pth")
