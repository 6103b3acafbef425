"""The report as a registry: one ``Entry`` per table (results/tables/{name}.csv and .md) and per plot
(results/plots/{name}.png), made from a config by ``tables(config)`` and ``plots(config)``, as methods and sources
are registered (lshbench.methods, lshbench.sources).

An entry says what it reads (the configurations' keys and which of their files, training histories, the Hamming jobs'
files, a dataset's images), the function that makes it, and its caption and category in the HTML report. From the
entries alone come the `table` and `plot` rules' inputs and params (rules/report.smk), the report's categories,
``verify``'s check of each table (made again by the same function, lshbench.verify) and the plug-in modules whose
code each output depends on (its methods' and its source's; lshbench.code follows their imports). Nothing here or in
the rules dispatches on a kind of table: each entry carries its own function.

Above lshbench.tables and lshbench.evidence, which do not import it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import evidence, layout, plots, tables
from .pages import rst
from .config import data_settings, hamming_plan, plan
from .layout import Key
from .methods import REGISTRY
from .sources import EMBEDDED
from .sources import REGISTRY as SOURCES
from .sources import has_images

CAPTIONS = Path(__file__).resolve().parent.parent / "report"
AT_A_GLANCE = "At a glance"  # the first category of the HTML report (they are sorted by name)


@dataclass(frozen=True)
class Entry:
    """One table or plot. ``make(entry, root)`` returns a table's frame; a plot's ``make(entry, root, path)`` draws
    it. ``keys``: the configurations whose ``files`` (metrics.csv, and per_query.parquet or timings.csv) it reads;
    ``trainings``: one key per training folder whose history.csv it reads; ``hamming``: the Hamming jobs (dataset,
    space, method) whose ``hamming_file`` it reads; ``dataset``: the dataset whose images a picture shows."""

    name: str
    make: Callable
    caption: str
    category: str
    subcategory: str = ""
    keys: tuple[Key, ...] = ()
    files: tuple[str, ...] = ("metrics.csv",)
    trainings: tuple[Key, ...] = ()
    hamming: tuple[tuple[str, str, str], ...] = ()
    hamming_file: str = "metrics.csv"
    dataset: dict | None = None
    datasets: tuple[str, ...] = ()
    protocols: dict = field(default_factory=dict)
    links: tuple[str, ...] = ()  # results its caption links to (file names in the HTML report)

    def paths(self, name: str) -> list[str]:
        """The per-configuration files ``name`` it reads, in key order (none if it does not read that file)."""
        return [layout.configuration_file(k, name) for k in self.keys] if name in self.files else []

    @property
    def histories(self) -> list[str]:
        return [layout.training_file(*k.job, k.training, "history.csv") for k in self.trainings]

    @property
    def hamming_paths(self) -> list[str]:
        return [layout.hamming_file(*job, self.hamming_file) for job in self.hamming]

    @property
    def galleries(self) -> dict[str, str]:
        """space -> gallery embeddings of the spaces its configurations use (a picture's gallery ids and labels)."""
        return {k.space: layout.embeddings(k.dataset, k.space, "gallery") for k in self.keys}

    def inputs(self) -> dict[str, list[str]]:
        """The rule's inputs: the manifests of the metrics jobs of its configurations (which write their files), the
        histories, the Hamming files; for a picture the galleries and, for a downloaded dataset, the download's
        manifest."""
        out = {"runs": list(dict.fromkeys(layout.metrics_manifest(*k.job) for k in self.keys)) + self.hamming_paths}
        if self.trainings:
            out["histories"] = self.histories
        if self.dataset is not None:
            out["galleries"] = list(self.galleries.values())
            downloaded = SOURCES[self.dataset["source"]].kind == EMBEDDED
            out["source"] = [layout.download_manifest(self.dataset["name"])] if downloaded else []
        return out

    @property
    def plugins(self) -> list[str]:
        """The plug-in modules whose code it runs through a registry: its methods' and its dataset's source's."""
        methods = [k.method for k in (*self.keys, *self.trainings)] + [m for _, _, m in self.hamming]
        modules = [REGISTRY[m].module for m in dict.fromkeys(methods)]
        return modules + ([SOURCES[self.dataset["source"]].module] if self.dataset is not None else [])

    def signature(self) -> str:
        """What it is made from, as a digest of one JSON string (the rules' param: a change re-makes it; the HTML
        report shows params, so a digest, not the list of files)."""
        text = json.dumps({"files": [p for n in self.files for p in self.paths(n)] + self.histories
                           + self.hamming_paths, "datasets": list(self.datasets), "protocols": self.protocols,
                           "dataset": self.dataset}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def scope(self) -> str:
        """What it reads, for a reader: how many configurations of which methods (one method: its grid) on which
        datasets and spaces, with which seeds (from the config's plan, so the caption says what this run holds)."""
        keys = list(self.keys) or list(self.trainings)
        parts = []
        if keys:
            configurations = {(k.dataset, k.space, k.method, k.configuration): k for k in keys}
            seeds = sorted({k.seed for k in keys if k.seed is not None})
            counts: dict[str, int] = {}
            for k in configurations.values():
                counts[k.method] = counts.get(k.method, 0) + 1
            parts.append(f"This run: {len(configurations)} configurations ("
                         + ", ".join(f"{m} {n}" for m, n in counts.items()) + ")"
                         + (f", seeds {', '.join(map(str, seeds))}" if seeds else ""))
            parts.append("datasets " + ", ".join(dict.fromkeys(k.dataset for k in keys)))
            parts.append("spaces " + ", ".join(dict.fromkeys(k.space for k in keys)))
            own = [k for k in configurations.values() if not REGISTRY[k.method].baseline]
            if len({k.method for k in own}) == 1:  # one method: its grid
                values: dict[str, list] = {}
                for k in own:
                    for name, value in k.params:
                        values.setdefault(name, [])
                        if value not in values[name]:
                            values[name].append(value)
                parts += [f"{n} = {', '.join(map(str, sorted(v) if _comparable(v) else v))}"
                          for n, v in values.items()]
        if self.hamming:
            parts.append("Hamming jobs: " + ", ".join(f"{d} {s} {m}" for d, s, m in self.hamming))
        return ("; ".join(parts) + ".") if parts else ""

    @property
    def report_caption(self) -> str:
        """The caption the HTML report shows: the entry's text and its scope, on one line (the report lists params
        with their line breaks escaped), each "@" escaped (reStructuredText makes "recall@10" a mail link)."""
        links = ", ".join(f"`{name}`_" for name in self.links)
        return rst(" ".join(f"{self.caption} {self.scope()}".split())) + (f" See {links}." if links else "")

    # what the functions that make entries read, relative to ``root``
    def metrics(self, root, name: str = "metrics.csv") -> pd.DataFrame:
        return evidence.read_metrics(list(self.keys), root, name)

    def per_query(self, root) -> dict:
        return evidence.read_per_query(list(self.keys), root)

    def history(self, root) -> pd.DataFrame:
        return tables.history_table([Path(root, p) for p in self.histories],
                                    [(k.dataset, k.space, k.training) for k in self.trainings])

    def hamming_frame(self, root) -> pd.DataFrame:
        return pd.concat([pd.read_csv(Path(root, p)) for p in self.hamming_paths], ignore_index=True)


def _comparable(values: list) -> bool:
    return all(isinstance(v, (int, float)) for v in values) or all(isinstance(v, str) for v in values)


def caption_text(name: str) -> str:
    return (CAPTIONS / f"{name}.rst").read_text().strip()


def figure_category(table: str, title: str) -> str:
    """'figure1_kmeans' -> 'Figure 1: k-means' (the report's figures); other tables by their method's title."""
    head = table.split("_")[0]
    return f"Figure {head[6:]}: {title}" if head[6:].isdigit() else title


# --- the functions that make the tables ----------------------------------------------------------------------------
def figure(method: str) -> Callable:
    """A method's table in the layout of the report's figures: means over seeds."""
    return lambda e, root: tables.wide(tables.figure_cells(e.metrics(root), method), list(e.datasets))


def figure_ci(method: str) -> Callable:
    """A figure's companion: intervals over seeds and over queries."""
    return lambda e, root: tables.figure_intervals(e.metrics(root), e.per_query(root), method)


def history(e: Entry, root) -> pd.DataFrame:
    return e.history(root)


def vs_report(e: Entry, root) -> pd.DataFrame:
    metrics = e.metrics(root)
    return tables.vs_report(pd.concat([tables.figure_cells(metrics, m) for m in tables.table_methods()],
                                      ignore_index=True))


def summary(e: Entry, root) -> pd.DataFrame:
    return evidence.summary(e.metrics(root), e.per_query(root), list(e.datasets))


def headline(e: Entry, root) -> pd.DataFrame:
    return evidence.headline(evidence.summary(e.metrics(root), e.per_query(root), list(e.datasets)))


def pareto(e: Entry, root) -> pd.DataFrame:
    return evidence.pareto(e.metrics(root), e.per_query(root), list(e.datasets))


def significance(e: Entry, root) -> pd.DataFrame:
    return evidence.significance(e.metrics(root), e.per_query(root), list(e.datasets))


def hashing(e: Entry, root) -> pd.DataFrame:
    return tables.hashing_table(tables.hamming_metrics([Path(root, p) for p in e.hamming_paths]), list(e.datasets))


def literature(e: Entry, root) -> pd.DataFrame:
    return tables.literature_table(tables.hamming_metrics([Path(root, p) for p in e.hamming_paths]), e.protocols)


# --- and the plots ---------------------------------------------------------------------------------------------------
def method_plot(dataset: str, method: str) -> Callable:
    return lambda e, root, path: plots.method_plot(e.metrics(root), dataset, method, path)


def tradeoff_plot(dataset: str) -> Callable:
    return lambda e, root, path: plots.tradeoff_plot(e.metrics(root), dataset, path)


def qps_plot(dataset: str) -> Callable:
    return lambda e, root, path: plots.qps_plot(e.metrics(root), e.metrics(root, "timings.csv"), dataset, path)


def history_plot(method: str) -> Callable:
    return lambda e, root, path: plots.history_plot(e.history(root), method, path)


def hamming_pr_plot(dataset: str) -> Callable:
    return lambda e, root, path: plots.hamming_pr_plot(e.hamming_frame(root), dataset, path)


def retrieved_plot(e: Entry, root, path) -> pd.DataFrame:
    from .pictures import retrieved_plot as picture

    galleries = {space: str(Path(root, p)) for space, p in e.galleries.items()}
    return picture(e.metrics(root), list(e.keys), e.dataset, Path(root, layout.download_folder(e.dataset["name"])),
                   galleries, path)


def explorer(e: Entry, root, path) -> pd.DataFrame:
    from .interactive import explorer as page

    return page(e.metrics(root), e.metrics(root, "timings.csv"), list(e.datasets), path)


# --- the registry, from a config -------------------------------------------------------------------------------------
def _trainings(config: dict, method: str) -> tuple[Key, ...]:
    """One key per training folder of ``method`` the plan and the Hamming protocol use, in plan order."""
    found: dict[tuple, Key] = {}
    for key in [*plan(config), *(k for _, k in hamming_plan(config))]:
        if key.method == method:
            found.setdefault((key.dataset, key.space, key.training), key)
    return tuple(found.values())


def trained_methods(config: dict) -> list[str]:
    """Methods with a training step that the plan or the Hamming protocol runs, in plan order."""
    used = dict.fromkeys([k.method for k in plan(config)] + [k.method for _, k in hamming_plan(config)])
    return [m for m in used if REGISTRY[m].training is not None]


def _training_entry(config: dict, method: str, make: Callable, subcategory: str = "") -> Entry:
    entry = REGISTRY[method]
    return Entry(entry.training.table, make, entry.training.caption,
                 figure_category(entry.training.table, f"{entry.title} loss"), subcategory,
                 trainings=_trainings(config, method), files=())


def tables_of(config: dict) -> dict[str, Entry]:
    """Every table of a config, by name (results/tables/{name}.csv and .md)."""
    keys, builds = plan(config), hamming_plan(config)
    datasets = tuple(d["name"] for d in config["datasets"])
    out: dict[str, Entry] = {}
    for m in dict.fromkeys(k.method for k in keys):
        entry = REGISTRY[m]
        own = tuple(k for k in keys if k.method == m)
        if entry.table:
            category = figure_category(entry.table, entry.title)
            out[entry.table] = Entry(entry.table, figure(m), entry.caption, category, keys=own, datasets=datasets)
            out[f"{entry.table}_ci"] = Entry(f"{entry.table}_ci", figure_ci(m), caption_text("figure_ci"), category,
                                             keys=own, files=("metrics.csv", "per_query.parquet"), datasets=datasets)
        if entry.training:
            out[entry.training.table] = _training_entry(config, m, history)
    for m in trained_methods(config):  # a method trained only for the Hamming protocol
        out.setdefault(REGISTRY[m].training.table, _training_entry(config, m, history))
    if keys:
        out["vs_report"] = Entry("vs_report", vs_report, caption_text("vs_report"), "Comparison with the report",
                                 keys=tuple(k for k in keys if REGISTRY[k.method].table is not None),
                                 datasets=datasets)
        for name, make in (("summary", summary), ("pareto", pareto), ("significance", significance)):
            out[name] = Entry(name, make, caption_text(name), "Summary", keys=tuple(keys),
                              files=("metrics.csv", "per_query.parquet"), datasets=datasets)
        plotted = [f"{d}_{kind}.png" for d in dict.fromkeys(k.dataset for k in keys) for kind in ("tradeoff", "qps")]
        out["headline"] = Entry("headline", headline, caption_text("headline"), AT_A_GLANCE, keys=tuple(keys),
                                files=("metrics.csv", "per_query.parquet"), datasets=datasets,
                                links=("explorer.html", *plotted))
    if builds:
        jobs = tuple(dict.fromkeys(k.job for _, k in builds))
        protocols = {d["name"]: (d.get("hamming") or {}).get("protocol") for d in config["datasets"]}
        for name, make in (("hashing", hashing), ("literature", literature)):
            out[name] = Entry(name, make, caption_text(name), "Hamming ranking", hamming=jobs, files=(),
                              datasets=datasets, protocols=protocols if name == "literature" else {})
    return out


def plots_of(config: dict) -> dict[str, Entry]:
    """Every plot of a config, by name (results/plots/{name}.png)."""
    keys, builds = plan(config), hamming_plan(config)
    out: dict[str, Entry] = {}
    for dataset in config["datasets"]:
        d = dataset["name"]
        here = tuple(k for k in keys if k.dataset == d)
        for m in dict.fromkeys(k.method for k in here):
            if not REGISTRY[m].baseline:
                out[f"{d}_{m}"] = Entry(f"{d}_{m}", method_plot(d, m), caption_text("plot_method"),
                                        f"Plots ({REGISTRY[m].family})", d,
                                        keys=tuple(k for k in here if k.method == m or REGISTRY[k.method].baseline))
        if here and has_images(dataset):
            for m in dict.fromkeys(k.method for k in here):  # one picture per method: every row fits the viewer
                out[f"{d}_retrieved_{m}"] = Entry(f"{d}_retrieved_{m}", retrieved_plot, caption_text("plot_retrieved"),
                                                  "Retrieved images", d, keys=tuple(k for k in here if k.method == m),
                                                  files=("metrics.csv", "per_query.parquet"),
                                                  dataset=data_settings(config, dataset))
        if here:
            out[f"{d}_tradeoff"] = Entry(f"{d}_tradeoff", tradeoff_plot(d), caption_text("plot_tradeoff"), "Plots",
                                         d, keys=here)
            out[f"{d}_qps"] = Entry(f"{d}_qps", qps_plot(d), caption_text("plot_qps"), "Plots", d, keys=here,
                                    files=("metrics.csv", "timings.csv"))
    for d in dict.fromkeys(k.dataset for _, k in builds):
        jobs = tuple(dict.fromkeys(k.job for _, k in builds if k.dataset == d))
        out[f"{d}_hamming_pr"] = Entry(f"{d}_hamming_pr", hamming_pr_plot(d), caption_text("plot_hamming_pr"),
                                       "Plots", d, hamming=jobs, hamming_file="pr_curve.csv", files=())
    for m in trained_methods(config):
        out[REGISTRY[m].training.table] = _training_entry(config, m, history_plot(m), "training")
    return out


def interactive_of(config: dict) -> dict[str, Entry]:
    """The interactive pages (results/plots/{name}.html): every configuration of every dataset, selectable."""
    keys = plan(config)
    if not keys:
        return {}
    datasets = tuple(dict.fromkeys(k.dataset for k in keys))
    return {"explorer": Entry("explorer", explorer, caption_text("explorer"), AT_A_GLANCE, keys=tuple(keys),
                              files=("metrics.csv", "timings.csv"), datasets=datasets)}
