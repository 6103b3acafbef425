"""The workflow's mAP@R of the Hamming-ranking protocol next to DeepHash-pytorch's ``CalcTopMap`` run unchanged on
the same codes (prints a table and a summary).

    .venv/bin/python benchmarks/deephash_calctopmap.py                                   # presets/demo.yaml
    .venv/bin/python benchmarks/deephash_calctopmap.py --configfile presets/demo.yaml    # after its run wrote results/

For every (bits, key) build of ``lshbench.config.hamming_plan`` the gallery and the queries are encoded again exactly
as the rule ``hamming`` encodes them (``lshbench.hamming_protocol.encode`` with the method's build settings, the
training's model.npz, the config's device and the evaluation's thread count; embeddings from results/), the bool
codes turned into DeepHash's float32 +-1 codes (what ``compute_result``'s ``torch.sign`` gives) and the labels into
one-hot rows (so ``np.dot(queryL, retrievalL.T) > 0`` is "same class"), and these mAP@R are computed with R the
workflow's ``hamming.R``:

* ``peer``: DeepHash-pytorch's ``CalcTopMap`` and ``CalcHammingDist``, copied verbatim below from
  https://github.com/swuxyj/DeepHash-pytorch utils/tools.py. Its ``np.argsort`` is numpy's default kind, not stable
  (quicksort: an introsort, or one of numpy's SIMD sorts where the CPU has the instructions), so the order within a
  tie of Hamming distance is whatever that sort's partitioning leaves: neither gallery position nor an average;
* ``peer AVX2``, ``peer baseline``: the same ``CalcTopMap`` on the same codes in a fresh Python whose numpy is told
  to dispatch no AVX-512 (``NPY_DISABLE_CPU_FEATURES="X86_V4 ..."``), or nothing above its x86-64-v2 baseline: what
  the peer computes on an older CPU (numpy 2.4's feature names; without them these columns are left out). Each picks
  another sort kernel and so another order within the ties;
* ``stable``: the same with ``np.argsort(hamm, kind='stable')`` (ties by gallery position): it must give the
  workflow's positional ``ap_at_{R}`` (metrics.csv), which checks that the codes, labels and R line up; the script
  stops when it differs by more than 1e-9.

Next to them the workflow's own numbers for the same build from results/{dataset}/hamming/{space}/{method}/
metrics.csv: ``ap_at_{R}`` (positional: ties by gallery position) and ``ap_at_{R}_tie_aware`` (the expectation over
every order within the ties, McSherry and Najork 2008). Values in points (x 100). Printed: one row per build, the
distances of each peer from our two variants (max, mean, signed mean, which one the peer is closer to), and per
dataset the same with the gallery's order (runs of equal labels along its file: a gallery sorted by class has as
many runs as classes, and a positional order then favours whatever the sorted order favours). A build whose job has
no metrics.csv yet is listed and left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lshbench import layout, threads  # noqa: E402
from lshbench.config import build_settings, hamming_plan  # noqa: E402
from lshbench.device import resolve_device  # noqa: E402
from lshbench.hamming_protocol import encode  # noqa: E402
from lshbench.io import read_embeddings  # noqa: E402
from lshbench.methods import method as registered  # noqa: E402
from lshbench.trace import read_config  # noqa: E402


def tqdm(iterable):  # DeepHash's progress bar (from tqdm import tqdm): a no-op here, so only the tables print
    return iterable


# --- DeepHash-pytorch, utils/tools.py (https://github.com/swuxyj/DeepHash-pytorch), verbatim ----------------------
def CalcHammingDist(B1, B2):
    q = B2.shape[1]
    distH = 0.5 * (q - np.dot(B1, B2.transpose()))
    return distH


def CalcTopMap(rB, qB, retrievalL, queryL, topk):
    num_query = queryL.shape[0]
    topkmap = 0
    for iter in tqdm(range(num_query)):
        gnd = (np.dot(queryL[iter, :], retrievalL.transpose()) > 0).astype(np.float32)
        hamm = CalcHammingDist(qB[iter, :], rB)
        ind = np.argsort(hamm)
        gnd = gnd[ind]

        tgnd = gnd[0:topk]
        tsum = np.sum(tgnd).astype(int)
        if tsum == 0:
            continue
        count = np.linspace(1, tsum, tsum)

        tindex = np.asarray(np.where(tgnd == 1)) + 1.0
        topkmap_ = np.mean(count / (tindex))
        topkmap = topkmap + topkmap_
    topkmap = topkmap / num_query
    return topkmap
# --- end of DeepHash-pytorch ----------------------------------------------------------------------------------------


def CalcTopMapStable(rB, qB, retrievalL, queryL, topk):
    """``CalcTopMap`` with one change: ``np.argsort(hamm, kind='stable')`` (ties by gallery position)."""
    num_query = queryL.shape[0]
    topkmap = 0
    for iter in tqdm(range(num_query)):
        gnd = (np.dot(queryL[iter, :], retrievalL.transpose()) > 0).astype(np.float32)
        hamm = CalcHammingDist(qB[iter, :], rB)
        ind = np.argsort(hamm, kind='stable')
        gnd = gnd[ind]

        tgnd = gnd[0:topk]
        tsum = np.sum(tgnd).astype(int)
        if tsum == 0:
            continue
        count = np.linspace(1, tsum, tsum)

        tindex = np.asarray(np.where(tgnd == 1)) + 1.0
        topkmap_ = np.mean(count / (tindex))
        topkmap = topkmap + topkmap_
    topkmap = topkmap / num_query
    return topkmap


def one_hot(gallery_labels, query_labels) -> tuple[np.ndarray, np.ndarray]:
    """One-hot label rows (float32) of the gallery and the queries, over the classes of both."""
    classes, compact = np.unique(np.concatenate([gallery_labels, query_labels]), return_inverse=True)
    rows = np.eye(len(classes), dtype=np.float32)[compact]
    return rows[: len(gallery_labels)], rows[len(gallery_labels):]


def signed(codes: np.ndarray, dtype) -> np.ndarray:
    """bool codes as DeepHash's +-1 codes (``torch.sign`` of the network's output)."""
    return np.where(np.asarray(codes) > 0, 1, -1).astype(dtype)


# Other numpy dispatch levels for the peer (numpy >= 2.4 on x86-64: its feature groups), each in a fresh process
LEVELS = {"AVX2": "X86_V4 AVX512_ICL AVX512_SPR", "baseline": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"}


def simd_info() -> str:
    """numpy's SIMD extensions ('*': dispatched, '?': disabled): the sort kernel argsort takes depends on them."""
    try:
        return np.lib._utils_impl._opt_info()  # a private helper of numpy 2
    except AttributeError:
        return "unknown"


def peer_only(path: str, topk: int) -> None:
    """CalcTopMap of every build saved in ``path`` (this process's numpy, as its environment dispatches it): JSON."""
    arrays = np.load(path)
    n = len({name.split("/")[0] for name in arrays.files})
    values = [CalcTopMap(*(arrays[f"{i}/{k}"] for k in ("rB", "qB", "retrievalL", "queryL")), topk) for i in range(n)]
    print(json.dumps({"simd": simd_info(), "values": values}))


def other_levels(builds: list[dict], topk: int) -> dict[str, list[float]]:
    """The peer's values at each of LEVELS this numpy knows, from fresh processes on the same arrays."""
    if not set(LEVELS["baseline"].split()) <= set(simd_info().replace("*", "").replace("?", "").split()):
        return {}
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "codes.npz")
        np.savez(path, **{f"{i}/{k}": v for i, b in enumerate(builds) for k, v in b.items()})
        for name, disabled in LEVELS.items():
            env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
            done = subprocess.run([sys.executable, __file__, "--peer-only", path, "--topk", str(topk)], env=env,
                                  capture_output=True, text=True, check=True)
            answer = json.loads(done.stdout.splitlines()[-1])
            out[name] = answer["values"]
            print(f"peer {name}: numpy SIMD {answer['simd']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", nargs="*", default=["presets/demo.yaml"],
                        help="the config files the run was given (over the project's config.yaml)")
    parser.add_argument("--directory", default=str(ROOT), help="the folder the run wrote results/ in")
    parser.add_argument("--peer-only", help=argparse.SUPPRESS)  # internal: CalcTopMap of saved codes (other_levels)
    parser.add_argument("--topk", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_only:
        peer_only(args.peer_only, args.topk)
        return
    where = Path(args.directory)
    config = read_config([Path(f) if Path(f).is_absolute() else ROOT / f for f in args.configfile], where)
    threads.use(config["evaluation"]["threads"])  # as the rule hamming: threads: config["evaluation"]["threads"]
    device = resolve_device(config["device"])
    R = config["hamming"]["R"]
    datasets = {d["name"]: d for d in config["datasets"]}
    print(f"numpy {np.__version__} ({platform.machine()}), torch {torch.__version__}, device {device}; "
          f"topk = R = {R}; values in points (mAP@{R} x 100)")
    print(f"peer: numpy SIMD {simd_info()}", flush=True)

    rows, builds, loaded, metrics, missing, runs = [], [], {}, {}, [], {}
    for bits, key in hamming_plan(config):
        entry = registered(key.method)
        if key.job not in metrics:
            path = where / layout.hamming_file(*key.job, "metrics.csv")
            metrics[key.job] = pd.read_csv(path) if path.is_file() else None
        if metrics[key.job] is None:  # the run has not made this job's files (yet): said below the table
            missing.append(f"{'/'.join(key.job)} {key.folder} ({bits} bits)")
            continue
        if (key.dataset, key.space) not in loaded:
            loaded[(key.dataset, key.space)] = tuple(
                read_embeddings(where / layout.embeddings(key.dataset, key.space, split))
                for split in ("gallery", "query"))
        gallery, query = loaded[(key.dataset, key.space)]
        settings = build_settings(config, datasets[key.dataset], key.method)
        trained = None
        if entry.training is not None:
            model = where / layout.training_file(*key.job, key.training, "model.npz")
            trained = {k: torch.from_numpy(v) for k, v in np.load(model).items()}
        (gallery_codes, query_codes), _, _ = encode(entry, key, gallery, query, settings=settings, trained=trained,
                                                    device=device)
        if gallery_codes.shape[1] != bits:
            raise RuntimeError(f"{key.method} {key.folder}: {gallery_codes.shape[1]} bits, not {bits}")
        retrievalL, queryL = one_hot(gallery.labels, query.labels)
        rB, qB = signed(gallery_codes, np.float32), signed(query_codes, np.float32)
        peer = CalcTopMap(rB, qB, retrievalL, queryL, R)
        stable = CalcTopMapStable(rB, qB, retrievalL, queryL, R)
        builds.append({"rB": rB, "qB": qB, "retrievalL": retrievalL, "queryL": queryL})

        frame = metrics[key.job]
        seed = frame["seed"].astype("Int64")
        match = frame[(frame["bits"] == bits) & (frame["params"] == key.folder)
                      & ((seed == key.seed) if key.seed is not None else seed.isna())]
        if len(match) != 1:
            raise RuntimeError(f"{'/'.join(key.job)} {key.folder} ({bits} bits): {len(match)} rows in metrics.csv")
        positional = float(match[f"ap_at_{R}"].iloc[0])
        tie_aware = float(match[f"ap_at_{R}_tie_aware"].iloc[0])
        if abs(stable - positional) > 1e-9:
            raise RuntimeError(f"{'/'.join(key.job)} {key.folder} ({bits} bits): the stable CalcTopMap gives "
                               f"{stable!r}, metrics.csv's positional ap_at_{R} {positional!r}: the codes, labels or R "
                               f"do not line up")
        runs[key.dataset] = 1 + int((np.diff(np.asarray(gallery.labels)) != 0).sum()), len(gallery)
        rows.append({"dataset": key.dataset, "method": key.method, "bits": bits,
                     "seed": "-" if key.seed is None else key.seed, "peer": peer, "positional": positional,
                     "tie_aware": tie_aware, "stable_error": abs(stable - positional)})
        print(f"  {key.dataset} {key.space} {key.method} {key.folder} ({bits} bits) done", file=sys.stderr, flush=True)

    table = pd.DataFrame(rows)
    levels = other_levels(builds, R)
    for name, values in levels.items():
        table[f"peer {name}"] = values
    peers = ["peer", *(f"peer {name}" for name in levels)]

    def points(x: float) -> str:
        return f"{100 * x:.2f}"

    def delta(x: float) -> str:
        return f"{100 * x:+.2f}"

    extra = [f"peer {name}" for name in levels]
    print(f"\n| dataset | method | bits | seed | peer (CalcTopMap) | ours positional | ours tie-aware | peer - positional "
          f"| peer - tie-aware |{''.join(f' {c} |' for c in extra)}")
    print("|---|---|---|---|---|---|---|---|---|" + "---|" * len(extra))
    for r in table.to_dict("records"):
        print(f"| {r['dataset']} | {r['method']} | {r['bits']} | {r['seed']} | {points(r['peer'])} | "
              f"{points(r['positional'])} | {points(r['tie_aware'])} | {delta(r['peer'] - r['positional'])} | "
              f"{delta(r['peer'] - r['tie_aware'])} |{''.join(f' {points(r[c])} |' for c in extra)}")

    n = len(table)
    if missing:
        print(f"\n{len(missing)} builds of the plan left out, their job's metrics.csv missing: {'; '.join(missing)}")
    print(f"\n{n} builds. Check: CalcTopMap with np.argsort(kind='stable') equals our positional mAP@{R} on every "
          f"build (largest difference {table['stable_error'].max():.1e} in [0, 1]; the script stops above 1e-9).\n")
    print("| peer | vs ours | max abs diff (points) | mean abs diff | mean signed diff (peer - ours) "
          "| builds where the peer is closer to it |")
    print("|---|---|---|---|---|---|")
    for peer in peers:
        to_pos, to_tie = (table[peer] - table["positional"]), (table[peer] - table["tie_aware"])
        for label, d, closer in (("positional", to_pos, to_pos.abs() < to_tie.abs()),
                                 ("tie-aware", to_tie, to_tie.abs() < to_pos.abs())):
            print(f"| {peer} | {label} | {100 * d.abs().max():.2f} | {100 * d.abs().mean():.2f} | "
                  f"{100 * d.mean():+.2f} | {int(closer.sum())} of {n} |")
    print()
    for peer in extra:
        d = table[peer] - table["peer"]
        print(f"{peer} - peer: max abs {100 * d.abs().max():.2f} points, mean abs {100 * d.abs().mean():.2f} "
              f"(the same CalcTopMap on the same codes; another sort kernel, another order within the ties)")
    print("\nper dataset (the gallery in its files' order: runs of equal labels along it; 10 = sorted by class):\n")
    print("| dataset | gallery | label runs | builds | mean abs peer - positional | mean abs peer - tie-aware "
          "| mean peer - tie-aware | builds with peer > tie-aware | mean tie-aware - positional "
          "| builds where the peer is closer to tie-aware |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dataset, part in table.groupby("dataset", sort=False):
        to_pos, to_tie = part["peer"] - part["positional"], part["peer"] - part["tie_aware"]
        print(f"| {dataset} | {runs[dataset][1]} | {runs[dataset][0]} | {len(part)} | {100 * to_pos.abs().mean():.2f} | "
              f"{100 * to_tie.abs().mean():.2f} | {100 * to_tie.mean():+.2f} | {int((to_tie > 0).sum())} of {len(part)} | "
              f"{100 * (part['tie_aware'] - part['positional']).mean():+.2f} | "
              f"{int((to_tie.abs() < to_pos.abs()).sum())} of {len(part)} |")
    tie_pos = table["tie_aware"] - table["positional"]
    print()
    print(f"ours tie-aware - ours positional: max abs {100 * tie_pos.abs().max():.2f} points, mean abs "
          f"{100 * tie_pos.abs().mean():.2f}, mean signed {100 * tie_pos.mean():+.2f}")


if __name__ == "__main__":
    main()
