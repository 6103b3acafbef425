"""The files behind one row of a table: ``python -m lshbench.trace summary 3 --configfile presets/demo.yaml``.

For a row of ``summary``, ``pareto``, ``significance``, a figure table (``figure1_kmeans``, ...), its intervals
(``figure1_kmeans_ci``) or ``vs_report``, prints the configurations it was computed from (their keys, from the
config's plan: lshbench.layout) and, per replicate, the files that hold it: metrics.csv (what the configuration is and
its means), per_query.parquet (each query's values, with its split), ranking.parquet (what each query retrieved),
timings.csv, provenance.json (everything its results depend on) and its index folder. Read with the same config
files as the run (the run folder's config.yaml, else the project's, then each ``--configfile`` over it), from the
folder the run wrote ``results/`` in (``--directory``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from . import layout
from .layout import Key

ROOT = Path(__file__).resolve().parent.parent
FILES = ("metrics.csv", "per_query.parquet", "ranking.parquet", "timings.csv", "provenance.json")


def read_config(files: list[str | Path], directory: str | Path = ".") -> dict:
    """The config a run of these config files in ``directory`` used: its config.yaml (else the project's), each file
    over it as Snakemake merges them, validated with the schema's defaults filled in."""
    import yaml
    from snakemake.utils import update_config

    from .config import check, validate

    base = Path(directory, "config.yaml")
    config = yaml.safe_load((base if base.is_file() else ROOT / "config.yaml").read_text()) or {}
    for path in files:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, ROOT / "schemas" / "config.schema.yaml")
    check(config)
    return config


def behind(entry, row: pd.Series, root: str | Path = ".") -> list[Key]:
    """The configurations (every replicate) a table row was computed from, among the keys its entry reads."""
    from .evidence import label
    from .tables import figure_cells

    keys = list(entry.keys)
    if {"dataset", "space", "method", "configuration"} <= set(row.index):
        wanted = (row["dataset"], row["space"], row["method"], row["configuration"])
        return [k for k in keys if k.replicates_key == wanted]
    if {"a", "b"} <= set(row.index):  # significance: two chosen configurations, named as evidence.label names them
        names = (row["a"], row["b"])
        def named(k: Key) -> str:  # the label without its budget: 'kmeans K=50_probes=2 (resnet18-pca64, '
            return label({"method": k.method, "configuration": k.configuration, "space": k.space,
                          "budget": ""}).removesuffix(")")

        return [k for k in keys if k.dataset == row["dataset"] and any(n.startswith(named(k)) for n in names)]
    if "block" in row.index:  # a figure table (a block of every dataset and value) or vs_report (one cell)
        from .methods import REGISTRY

        methods = [m for m in dict.fromkeys(k.method for k in keys)
                   if REGISTRY[m].table is not None and row.get("figure", REGISTRY[m].table) == REGISTRY[m].table]
        found = set()
        for method in methods:
            cells = figure_cells(entry.metrics(root), method)
            cells = cells[cells["block"] == row["block"]]
            for column in ("dataset", "value"):
                if column in row.index:
                    cells = cells[cells[column] == row[column]]
            found |= set(zip(cells["dataset"], cells["space"], [method] * len(cells), cells["configuration"]))
        return [k for k in keys if k.replicates_key in found]
    raise ValueError(f"table '{entry.name}' has no columns that name a configuration (dataset, space, method, "
                     f"configuration; a, b; block)")


def chain(config: dict, table: str, row: int, root: str | Path = ".") -> list[str]:
    """The lines ``main`` prints: the row, then each configuration behind it and its files (those that exist)."""
    from .report import tables_of

    entries = tables_of(config)
    if table not in entries:
        raise ValueError(f"no table '{table}' in this config; its tables: {', '.join(entries)}")
    entry = entries[table]
    path = Path(root, layout.table_file(table))
    frame = pd.read_csv(path)
    if not 0 <= row < len(frame):
        raise ValueError(f"{path} has rows 0 to {len(frame) - 1}, not {row}")
    line = frame.iloc[row]
    keys = behind(entry, line, root)
    out = [f"{path}, row {row}:", *(f"  {k}: {v}" for k, v in line.items() if pd.notna(v)),
           f"made by {', '.join(f'{m}' for m in dict.fromkeys(k.method for k in keys)) or 'no configuration'} "
           f"from {len(keys)} configuration file set(s):"]
    for key in keys:
        out.append(f"- {key.dataset} / {key.space} / {key.method} / {key.configuration}"
                   + ("" if key.seed is None else f", seed {key.seed}"))
        for name in FILES:
            file = Path(root, layout.configuration_file(key, name))
            out.append(f"    {file}" + ("" if file.is_file() else "  (missing)"))
        out.append(f"    {Path(root, layout.index_folder(key))}/  (its index)")
        if key.training:
            out.append(f"    {Path(root, layout.training_file(*key.job, key.training, 'model.npz'))}  (its training)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lshbench.trace", description=__doc__.split("\n\n")[0])
    parser.add_argument("table", help="a table's name: summary, pareto, significance, figure1_kmeans, ...")
    parser.add_argument("row", type=int, help="the row, counted from 0 below the header (pandas' index)")
    parser.add_argument("--configfile", nargs="*", default=[], help="the config files the run was given")
    parser.add_argument("--directory", default=".", help="the folder holding results/ (default: here)")
    args = parser.parse_args(argv)
    try:
        lines = chain(read_config(args.configfile, args.directory), args.table, args.row, args.directory)
    except (ValueError, OSError) as error:
        print(f"lshbench.trace: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
