"""Pictures of what was retrieved: for a few queries, the query image and its top k gallery images, framed green
(the query's label) or red, one row per query, one picture per method (matplotlib Agg, PNG).

The grid is composed as one array at exact pixel positions (``cell_origin``) and drawn unscaled with ``figimage``;
matplotlib adds the text. Images are fitted to a square cell: small ones (digits' 8x8, MNIST's 28x28, CIFAR's
32x32) enlarged by a whole factor, nearest neighbour, so their pixels stay visible; large ones shrunk (Lanczos).
"""

from __future__ import annotations

import os

import numpy as np

from .io import atomic_path
from .ranking import Ranking

K = 10  # retrieved images per row
INNER = 96  # pixels of a cell's image area
FRAME = 4  # frame width
CELL = INNER + 2 * FRAME
GAP = 4  # between retrieved cells
QUERY_GAP = 16  # between the query and its first retrieved image
MARGIN = 8
TITLE_BAND = 32
TEXT_BAND = 20  # a row's text, above its cells
ROW_GAP = 8
ROW = TEXT_BAND + CELL + ROW_GAP
DPI = 100

PAGE = (255, 255, 255)
CELL_BACKGROUND = (236, 236, 236)
EMPTY = (244, 244, 244)  # a slot past the end of a short list
NEUTRAL = (128, 128, 128)  # the query's frame
GREEN = (0, 160, 0)
RED = (215, 0, 0)


def pick_queries(query_ids, query_labels, per_class: int = 1, max_rows: int = 10, seed: int = 0) -> np.ndarray:
    """The ids of a fixed set of queries: ``per_class`` of each class, of at most ``max_rows // per_class`` classes
    (drawn by ``seed`` where there are more), ordered by class, then id.

    The draw depends only on the set of (id, label) pairs and the seed, not on the order they come in, so every
    method's row of a query shows the same query and a re-run picks the same ones."""
    ids = np.asarray(query_ids, dtype=np.int64).reshape(-1)
    labels = np.asarray(query_labels).reshape(-1)
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} query ids but {len(labels)} labels")
    if per_class < 1 or max_rows < 1:
        raise ValueError(f"per_class and max_rows must be at least 1, not {per_class} and {max_rows}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    wanted = max(1, max_rows // per_class)
    if len(classes) > wanted:
        classes = np.sort(rng.choice(classes, wanted, replace=False))
    chosen = []
    for label in classes:
        members = np.sort(ids[labels == label])
        take = members if len(members) <= per_class else np.sort(rng.choice(members, per_class, replace=False))
        chosen.extend(take.tolist())
    return np.asarray(chosen[:max_rows], dtype=np.int64)


def top_gallery_ids(ranking: Ranking, gallery_ids, query_ids, k: int = K) -> list[np.ndarray]:
    """For each of ``query_ids`` (the ranking's query_id column: the query file's ids), the ids of its top ``k``
    gallery images, best first, a short list's -1 padding dropped.

    A ranking stores gallery positions (rows of the gallery embedding file); ``gallery_ids`` is that file's ``id``
    column, which maps a position to the id ``lshbench.sources.images_by_id`` takes (they differ where images were
    skipped or a limit subset the split)."""
    gallery_ids = np.asarray(gallery_ids, dtype=np.int64)
    rows = {int(q): r for r, q in enumerate(ranking.query_ids)}
    out = []
    for query in np.asarray(query_ids, dtype=np.int64).reshape(-1):
        if int(query) not in rows:
            raise ValueError(f"query id {int(query)} is not in the ranking")
        top = ranking.ids[rows[int(query)], :k]
        out.append(gallery_ids[top[top >= 0]])
    return out


def figure_size(n_rows: int, k: int = K) -> tuple[int, int]:
    """(width, height) in pixels of a figure of ``n_rows`` rows of a query and ``k`` retrieved images."""
    width = 2 * MARGIN + CELL + QUERY_GAP + k * CELL + (k - 1) * GAP
    return width, TITLE_BAND + n_rows * ROW + MARGIN


def cell_origin(row: int, column: int) -> tuple[int, int]:
    """(x, y) in pixels, from the top left, of the outer corner of a cell's frame; column 0 is the query, 1..k the
    retrieved images, best first."""
    y = TITLE_BAND + row * ROW + TEXT_BAND
    x = MARGIN if column == 0 else MARGIN + CELL + QUERY_GAP + (column - 1) * (CELL + GAP)
    return x, y


def fit(image, size: int = INNER) -> np.ndarray:
    """An image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) uint8 as RGB at most ``size`` on its longer side: enlarged
    by the largest whole factor that fits (nearest neighbour), or shrunk to fit (Lanczos)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8, not {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4) or min(array.shape[:2]) < 1:
        raise ValueError(f"an image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), not {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    array = array[..., :3]
    longer = max(array.shape[:2])
    if longer <= size:
        factor = size // longer
        return array.repeat(factor, axis=0).repeat(factor, axis=1)
    from PIL import Image

    height, width = array.shape[:2]
    target = (max(1, round(width * size / longer)), max(1, round(height * size / longer)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(array)).resize(target, Image.Resampling.LANCZOS))


def _draw_cell(canvas: np.ndarray, x: int, y: int, image, frame) -> None:
    canvas[y : y + CELL, x : x + CELL] = frame
    inner = canvas[y + FRAME : y + FRAME + INNER, x + FRAME : x + FRAME + INNER]
    inner[:] = CELL_BACKGROUND
    picture = fit(image)
    top, left = (INNER - picture.shape[0]) // 2, (INNER - picture.shape[1]) // 2
    inner[top : top + picture.shape[0], left : left + picture.shape[1]] = picture


def retrieved_figure(rows: list[dict], path: str | os.PathLike, title: str, k: int = K,
                     class_names: list[str] | None = None) -> None:
    """Draw one row per entry of ``rows`` and write the PNG (atomically). Each row is a dict: ``label`` (the method
    and configuration), ``p_at_10`` (its P@10, a fraction), ``query`` (image), ``query_label``, ``retrieved`` (images,
    best first; the first ``k`` are drawn, fewer leave empty cells) and ``retrieved_labels``. ``class_names`` name
    the query's class in the row's text."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import IdentityTransform

    width, height = figure_size(len(rows), k)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = PAGE
    texts = []
    for r, row in enumerate(rows):
        if len(row["retrieved"]) != len(row["retrieved_labels"]):
            raise ValueError(f"row {r} ({row['label']}): {len(row['retrieved'])} retrieved images but "
                             f"{len(row['retrieved_labels'])} labels")
        _draw_cell(canvas, *cell_origin(r, 0), row["query"], NEUTRAL)
        for column in range(1, k + 1):
            x, y = cell_origin(r, column)
            if column > len(row["retrieved"]):
                canvas[y : y + CELL, x : x + CELL] = EMPTY
                continue
            same = int(row["retrieved_labels"][column - 1]) == int(row["query_label"])
            _draw_cell(canvas, x, y, row["retrieved"][column - 1], GREEN if same else RED)
        label = int(row["query_label"])
        name = class_names[label] if class_names and 0 <= label < len(class_names) else str(label)
        texts.append((r, f"{row['label']}  ·  P@10 {100 * row['p_at_10']:.1f}%  ·  query class {name}"
                         if row["label"] else f"query class {name}  ·  P@10 {100 * row['p_at_10']:.1f}%"))

    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    figure.figimage(canvas, 0, 0, origin="upper", resize=False)
    pixels = IdentityTransform()  # display coordinates: pixels from the bottom left
    figure.text(width / 2, height - TITLE_BAND / 2, title, ha="center", va="center", fontsize=12,
                transform=pixels)
    for r, text in texts:
        y = TITLE_BAND + r * ROW + TEXT_BAND / 2
        figure.text(MARGIN, height - y, text, ha="left", va="center", fontsize=9, transform=pixels)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)


def retrieved_plot(metrics, keys: list, dataset: dict, root: str | os.PathLike, galleries: dict[str, str],
                   path: str | os.PathLike, class_names: list[str] | None = None):
    """``results/plots/{dataset}_retrieved_{method}.png``: for the fixed, seeded test queries (``pick_queries``: one
    per class, up to 10), the chosen configuration of the one method whose configurations ``keys`` are
    (lshbench.evidence.chosen_configurations: the best mAP over all relevant within 10% of the gallery scanned, on
    the validation queries; exact search: its first space), the query and its top 10 from the configuration's first
    seed's ranking (ranking.parquet beside its metrics.csv), one row per query; the row's P@10 is that query's.
    ``metrics``: the metrics.csv rows (lshbench.evidence.read_metrics) of ``keys`` (lshbench.layout.Key);
    ``galleries``: space -> its gallery embedding file (its ids and labels). Returns what it drew, one row per
    retrieved image (the plot's CSV)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from . import layout
    from .evidence import chosen_and_reported, chosen_configurations, label
    from .ranking import read_ranking
    from .sources import images_by_id
    from .split import TEST

    if "seed" in metrics:  # each configuration's first replicate: its lowest seed
        order = metrics["seed"].argsort(kind="stable")
        metrics, keys = metrics.iloc[order].reset_index(drop=True), [keys[i] for i in order]
    _, configs, _, splits = chosen_and_reported(metrics, keys)
    by_row = {key.row: key for key in keys}
    chosen = chosen_configurations(configs, dataset["name"])[:1]  # one method's: exact search on its first space
    if not chosen:
        raise ValueError(f"dataset '{dataset['name']}': no configuration to picture")
    row = chosen[0]
    key = by_row[(dataset["name"], row["space"], row["method"], row["params"])]
    ranking = read_ranking(layout.configuration_file(key, "ranking.parquet"))
    split = splits[dataset["name"]].reindex(np.asarray(ranking.query_ids)).to_numpy()
    test = split == TEST  # the pictured queries are test queries: none of them chose a row
    picks = pick_queries(np.asarray(ranking.query_ids)[test], np.asarray(ranking.labels)[test])
    query_images = dict(zip(picks.tolist(), images_by_id(dataset, root, "query", picks)))
    query_labels = dict(zip(np.asarray(ranking.query_ids).tolist(), np.asarray(ranking.labels).tolist()))
    table = pq.read_table(galleries[row["space"]], columns=["id", "label"])
    by_id = dict(zip(table.column("id").to_numpy().tolist(), table.column("label").to_numpy().tolist()))
    found = top_gallery_ids(ranking, table.column("id").to_numpy(), picks)
    wanted = sorted({int(i) for top in found for i in top})
    gallery_images = dict(zip(wanted, images_by_id(dataset, root, "gallery", wanted)))
    rows, drawn = [], []
    name = label(row)
    for query, top in zip(picks.tolist(), found):
        labels = [by_id[int(i)] for i in top]
        same = [int(x) == int(query_labels[query]) for x in labels]
        rows.append({"label": "", "p_at_10": sum(same) / max(1, min(K, len(labels))), "query": query_images[query],
                     "query_label": query_labels[query], "retrieved": [gallery_images[int(i)] for i in top],
                     "retrieved_labels": labels})
        drawn += [{"dataset": dataset["name"], "method": row["method"], "space": row["space"],
                   "configuration": row["configuration"], "budget": row["budget"], "query_id": query,
                   "query_label": int(query_labels[query]), "rank": r + 1, "gallery_id": int(i),
                   "gallery_label": int(x), "same_label": s}
                  for r, (i, x, s) in enumerate(zip(top[:K], labels, same))]
    # the configuration once, in the title; each row: the query's class and its precision@10
    retrieved_figure(rows, path, f"{dataset['name']}: {name}; top {K}, green: same label", class_names=class_names)
    return pd.DataFrame(drawn)
