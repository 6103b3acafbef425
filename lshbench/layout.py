"""Where every file of a run lies, and what names a configuration.

A configuration is a ``Key``: its dataset, embedding space and method, its folder parameters (typed, in the method's
order: build parameters, then query parameters) and its replicate's seed. Its folder names are made from those fields
here (``Key.folder``, ``Key.build``, ``Key.training``), and every path of ``results/`` and ``resources/`` comes from
one function of this module: the rules, the scripts and the library build paths only through it, and nothing parses
a path or a folder name back. Whoever needs a configuration's key looks it up in the plan (``lshbench.config.plan``),
by the folder name it was given.

Each function takes plain strings, so a rule can pass Snakemake's wildcards (``embeddings("{dataset}", "{space}",
"{split}")``) where a job passes values.

Torch-free: Snakemake calls it while it parses the workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from .methods import REGISTRY
from .methods.registry import format_params

RESULTS = "results"
RESOURCES = "resources"
SPLITS = ("gallery", "query")


@dataclass(frozen=True)
class Key:
    """One configuration: where it runs (dataset, space), what runs (method, its folder parameters in the method's
    order, the seed not among them) and which replicate (``seed``: None for a method that draws no random numbers)."""

    dataset: str
    space: str
    method: str
    params: tuple[tuple[str, object], ...] = ()
    seed: int | None = None

    @classmethod
    def of(cls, dataset: str, space: str, method: str, params: Mapping) -> Key:
        """A key from a plan's parameter dict (the seed, if there, becomes the ``seed`` field)."""
        params = dict(params)
        seed = params.pop("seed", None)
        return cls(dataset, space, method, tuple(params.items()), seed)

    @property
    def parameters(self) -> dict:
        """The folder parameters, without the seed, each of the type the method declares (a config's ``lr: 1`` is
        1.0 to the method, and stays '1' in the folder name it was planned with)."""
        types = REGISTRY[self.method].params
        return {k: types.get(k, type(v))(v) for k, v in self.params}

    @property
    def settings(self) -> dict:
        """The folder parameters with the seed last (what a method's ``build`` and ``params()`` take)."""
        return {**self.parameters, **self._seed}

    @property
    def _seed(self) -> dict:
        return {} if self.seed is None else {"seed": self.seed}

    def _folder(self, keys=None, seed: bool = True, typed: bool = False) -> str:
        """A folder name of the key's values (as planned, or ``typed``) restricted to ``keys``."""
        params = {**(self.parameters if typed else dict(self.params)), **(self._seed if seed else {})}
        return format_params({k: v for k, v in params.items() if keys is None or k in keys})

    @property
    def folder(self) -> str:
        """The configuration's folder name: 'K=10_probes=1_seed=0' (exact search: 'all')."""
        return self._folder()

    @property
    def configuration(self) -> str:
        """What the replicates of one configuration share: its folder name without the seed ('K=10_probes=1')."""
        return self._folder(seed=False)

    @property
    def build(self) -> str:
        """The folder of its index: the folder name without the method's query parameters (one per build)."""
        query = REGISTRY[self.method].query
        return self._folder([k for k, _ in self.params if k not in query] + ["seed"], typed=True)

    @property
    def training(self) -> str:
        """The folder of the training it uses (its training keys and seed); '' for a method without one."""
        if REGISTRY[self.method].training is None:
            return ""
        return self._folder([*REGISTRY[self.method].training.keys, "seed"], typed=True)

    @property
    def training_settings(self) -> dict:
        """The typed settings its training folder stands for (the training keys, then the seed)."""
        keys = [*REGISTRY[self.method].training.keys, "seed"]
        return {k: v for k, v in self.settings.items() if k in keys}

    @property
    def job(self) -> tuple[str, str, str]:
        """(dataset, space, method): the method job that builds it."""
        return self.dataset, self.space, self.method

    @property
    def row(self) -> tuple[str, str, str, str]:
        """(dataset, space, method, folder name): how its metrics.csv row names it (the ``params`` column)."""
        return self.dataset, self.space, self.method, self.folder

    @property
    def replicates_key(self) -> tuple[str, str, str, str]:
        """(dataset, space, method, configuration): what its replicates over seeds share."""
        return self.dataset, self.space, self.method, self.configuration


def _path(*parts: str) -> str:
    return str(PurePosixPath(*parts))


# Downloads and weights
def download_folder(dataset: str) -> str:
    return _path(RESOURCES, dataset)


def download_manifest(dataset: str) -> str:
    return _path(RESOURCES, dataset, "manifest.json")


def weights_file(arch: str, weights: str) -> str:
    return _path(RESOURCES, "weights", f"{arch}.{weights}.pth")


# Embeddings, PCA, exact neighbours, trainings
def embeddings(dataset: str, space: str, split: str) -> str:
    return _path(RESULTS, dataset, "embeddings", space, f"{split}.parquet")


def pca_record(dataset: str, space: str) -> str:
    return _path(RESULTS, dataset, "embeddings", space, "pca.json")


def exact_neighbours(dataset: str, space: str) -> str:
    return _path(RESULTS, dataset, "exact", space, "top50.parquet")


def training_file(dataset: str, space: str, method: str, training: str, name: str) -> str:
    """model.npz or history.csv of one training folder."""
    return _path(RESULTS, dataset, "train", space, method, training, name)


# A method job and its configurations
def run_manifest(dataset: str, space: str, method: str) -> str:
    """The method job's output: which configurations it kept or built."""
    return _path(RESULTS, dataset, "runs", space, f"{method}.json")


def metrics_manifest(dataset: str, space: str, method: str) -> str:
    """The metrics job's output: the configurations whose metrics it derived."""
    return _path(RESULTS, dataset, "metrics", space, f"{method}.json")


def last_run(dataset: str, space: str, method: str) -> str:
    """The method job's record of its last completed run: {folder name: key} of its configurations."""
    return _path(RESULTS, dataset, "metrics", space, method, "last_run.json")


def configuration_folder(key: Key) -> str:
    """ranking.parquet, timings.csv, provenance.json, metrics.csv and per_query.parquet of one configuration."""
    return _path(RESULTS, key.dataset, "metrics", key.space, key.method, key.folder)


def configuration_file(key: Key, name: str) -> str:
    return _path(configuration_folder(key), name)


def index_folder(key: Key) -> str:
    """index.json and the arrays of one build (shared by the configurations that differ in query parameters)."""
    return _path(RESULTS, key.dataset, "index", key.space, key.method, key.build)


def hamming_folder(dataset: str, space: str, method: str) -> str:
    """The files of one Hamming-protocol job."""
    return _path(RESULTS, dataset, "hamming", space, method)


def hamming_file(dataset: str, space: str, method: str, name: str) -> str:
    """per_query.parquet, metrics.csv, pr_curve.csv or timings.csv of one Hamming-protocol job."""
    return _path(hamming_folder(dataset, space, method), name)


# What the report is made of
def table_file(name: str, extension: str = "csv") -> str:
    return _path(RESULTS, "tables", f"{name}.{extension}")


def plot_file(name: str, extension: str = "png") -> str:
    """A plot (png, or html for an interactive one) or the points it drew (csv)."""
    return _path(RESULTS, "plots", f"{name}.{extension}")


def collected(name: str) -> str:
    """results/metrics.csv or results/timings.csv: every configuration's row."""
    return _path(RESULTS, name)


CHECKSUMS = _path(RESULTS, "checksums.sha256")
