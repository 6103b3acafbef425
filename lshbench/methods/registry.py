"""The method registry: everything the workflow, the tables and the plots know about a method, declared by the method's
own module next to its ``Index`` class (``METHOD = register(Method(...))``).

From the entries alone come: the config schema of ``methods.<name>`` and ``datasets[].grids.<name>``, the plan of
configurations and their folder names, the wildcard constraints, the training step, build and load dispatch, the
columns of metrics.csv (the index's own ``params()``), table blocks and plot series, and the report's entries.

Torch-free (method modules import torch lazily): ``lshbench.config`` reads the registry while Snakemake parses.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


from ..errors import ParameterError  # noqa: E402,F401 (raised by methods, imported from here too)


def format_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def format_params(params: Mapping) -> str:
    """{'H': 8, 'L': 6, 'center': False} -> 'H=8_L=6_center=false': the folder name of one configuration.

    No commas: Snakemake passes a cluster job its wildcards as a comma-separated list (--target-jobs)."""
    return "_".join(f"{key}={format_value(value)}" for key, value in params.items()) or "all"


@dataclass(frozen=True)
class Training:
    """A step run once per (dataset, space, training settings) before the builds that share it, e.g. neural LSH's
    networks (trained once, reused by every J).

    ``keys``: the folder parameters that select the training (its folder name is the configuration's folder name
    restricted to them). ``train(gallery, labels, settings, seed, device, progress)`` returns the arrays to save
    (model.npz) and one dict per epoch (history.csv); ``build`` receives the arrays as ``trained``. ``table``: the
    table of histories (one row per epoch), ``curves``: the history columns its plot draws, with their labels."""

    keys: tuple[str, ...]
    train: Callable
    table: str
    caption: str
    curves: dict[str, str]
    title: Callable[[str], str] = lambda folder: folder  # a training folder's label in the plot


@dataclass(frozen=True)
class Method:
    """One method. ``params``: the parameters of its folder name, in folder order, with their types. Each comes from
    the dataset's grid (``grid``: a list per dataset, e.g. K) or from ``methods.<name>`` (``settings`` entries that
    are lists of values expand the plan like a grid; scalars are fixed). ``configurations`` turns a grid and the
    settings into folder parameter dicts; the default is the product of the lists in ``params`` order.
    ``query``: the folder parameters a built index takes at query time (k-means' probes): the configurations that
    differ only in them share one build (``build_folder``) and are evaluated one after the other on it, through the
    index's ``set_query``. ``build_settings``: settings that change a build but not the folder name (passed to ``build`` and kept in
    ``params()``). ``block``: the table block label of a metrics row; ``series``: the columns that split its plot
    into lines. ``checks``: ``(settings, grid, sizes, where)`` raising ``ValueError`` for values the data cannot take
    (sizes: the dataset's gallery/query sizes when known before any download, else None)."""

    name: str
    title: str
    index: str  # the Index class, by name, in the module that registers the method
    module: str
    params: dict[str, type]
    grid: dict[str, dict] = field(default_factory=dict)
    settings: dict[str, dict] = field(default_factory=dict)
    axis: str | None = None
    log_axis: bool = False
    table: str | None = None
    caption: str = ""
    block: Callable[[Mapping], str] = lambda row: ""
    series: tuple[str, ...] = ()
    colour: str = "tab:grey"
    configurations: Callable[[dict, dict], list[dict]] | None = None
    build_settings: Callable[[dict, dict], dict] = lambda settings, grid: {}
    checks: Callable[[dict, dict, dict | None, str], None] = lambda settings, grid, sizes, where: None
    query: tuple[str, ...] = ()  # folder parameters applied at query time (FAISS's nprobe): one index serves them all
    training: Training | None = None
    baseline: bool = False  # exact search: one configuration per space the other methods use, no grid
    randomised: bool = True  # draws random numbers: one replicate per seed; False: deterministic given the data
    # A method that makes binary codes: the folder parameters (without the seed) of a build whose ``hamming_codes``
    # are B bits, from B and the method's settings; the Hamming-ranking protocol (lshbench.hamming) ranks by them.
    hamming: Callable[[int, dict], dict] | None = None
    order: int = 100  # position in the summary, the plots' legends and the plan (the report's methods first)
    family: str = "hashing"  # FAMILIES: the plots' marker shape, a column of the summary, pareto and significance

    def plan(self, grid: dict, settings: dict, seeds=(0,)) -> list[dict]:
        """The folder parameters of every configuration of this method on one dataset, in a stable order, each
        configuration's replicates (``seeds``) side by side."""
        if self.configurations is not None:
            planned = self.configurations(grid, settings)
        else:
            values = []
            for key in self.params:
                value = grid[key] if key in self.grid else settings[key]
                values.append(value if isinstance(value, list) else [value])
            planned = [dict(zip(self.params, combination)) for combination in itertools.product(*values)]
        if not self.seeded:
            return planned
        return [{**params, "seed": seed} for params in planned for seed in seeds]

    @property
    def seeded(self) -> bool:
        """A randomised method (k-means seeding, hyperplanes, rotations, networks, bit draws) has one replicate per
        seed of the config's ``seeds``, each with its own folders (``..._seed=N``). Exact search and the methods
        registered with ``randomised=False`` (PCAH, spectral hashing: deterministic given the data) run once per
        configuration, with no seed in their folder names and no ``seed`` in their ``params()``."""
        return self.randomised and not self.baseline

    @property
    def folder_keys(self) -> list[str]:
        """The keys of a folder name, in order: the folder parameters, then the seed of the replicate."""
        return [*self.params, "seed"] if self.seeded else list(self.params)

    def folder(self, params: Mapping) -> str:
        keys = list(params)
        if keys != self.folder_keys:
            raise ValueError(f"{self.name}: parameters {keys} are not its folder parameters {self.folder_keys}")
        return format_params(params)

    def schema(self) -> tuple[dict, dict | None]:
        """JSON Schema of ``methods.<name>`` and of ``datasets[].grids.<name>`` (None without a grid)."""
        settings = {"type": "object", "additionalProperties": False, "default": {},
                    "properties": {**({} if self.baseline else {"spaces": SPACES}), **self.settings}}
        if not self.grid:
            return settings, None
        required = [key for key, spec in self.grid.items() if key in self.params and "default" not in spec]
        grid = {"type": "object", "additionalProperties": False, "required": required, "properties": self.grid}
        return settings, grid

    def index_class(self):
        import importlib

        return getattr(importlib.import_module(self.module), self.index)


SPACES = {"type": "array", "items": {"type": "string"}, "default": [],
          "description": "embedding spaces it runs on, e.g. resnet18, resnet18-pca248"}


def values_of(kind: type, description: str = "", **bounds) -> dict:
    """JSON Schema of a list of distinct values of one type (a grid, or a setting that expands like one)."""
    schema = {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": TYPES[kind], **bounds}}
    return {**schema, "description": description} if description else schema


REGISTRY: dict[str, Method] = {}
# What a method is, for a reader choosing one: exact search, clusters, binary codes in hash tables, compressed codes in
# inverted lists, a graph (ann-benchmarks and VIBE group their indexes the same way).
FAMILIES = ("exact", "clustering", "hashing", "quantisation", "graph")


def register(method: Method) -> Method:
    if method.name in REGISTRY and REGISTRY[method.name].module != method.module:
        raise ValueError(f"method name '{method.name}' is registered twice ({REGISTRY[method.name].module}, "
                         f"{method.module})")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", method.name):
        raise ValueError(f"method name {method.name!r}: lower-case letters, digits and underscores")
    unknown = [k for k in method.params if k not in method.grid and k not in method.settings]
    if unknown and method.configurations is None:
        raise ValueError(f"method '{method.name}': folder parameters {unknown} are neither grid keys nor settings")
    check_entry(method)
    REGISTRY[method.name] = method
    return method


def check_entry(method: Method) -> None:
    """What the tables, plots and folder names rely on, checked when a method registers (docs/methods.md)."""
    where = f"method '{method.name}'"
    if method.family not in FAMILIES:
        raise ValueError(f"{where}: family {method.family!r} is not one of {FAMILIES}")
    odd = {k: v for k, v in method.params.items() if v not in TYPES}
    if odd:
        raise ValueError(f"{where}: folder parameter types {odd} are not int, float, bool or str (folder names are "
                         f"parsed back into these)")
    if not method.baseline:
        # the tables cast the axis with int() ("value" columns, K=10 ...) and the plots put it on the x axis
        if method.axis is None:
            raise ValueError(f"{where}: axis= is required: the folder parameter of type int that its table's "
                             f"columns and its plot's x axis show (one of {list(method.params)})")
        if method.axis not in method.params or method.params[method.axis] is not int:
            raise ValueError(f"{where}: axis '{method.axis}' must be a folder parameter of type int "
                             f"(params: {_spelled(method.params)})")
    elif method.axis is not None and method.params.get(method.axis) is not int:
        raise ValueError(f"{where}: axis '{method.axis}' must be a folder parameter of type int")
    if "seed" in method.params:
        raise ValueError(f"{where}: 'seed' is not a folder parameter: every seeded method's folder name ends with "
                         f"the replicate's seed (the config's seeds), added by the plan")
    odd = [name for name in method.query if name not in method.params]
    if odd:
        raise ValueError(f"{where}: query parameters {odd} are not folder parameters ({list(method.params)})")
    if method.training is not None and set(method.query) & set(method.training.keys):
        raise ValueError(f"{where}: a training key cannot be a query parameter")
    missing = [name for name in method.series if name not in method.params]
    if missing:
        raise ValueError(f"{where}: series {missing} are not folder parameters ({list(method.params)}): the plot "
                         f"splits its lines by metrics.csv columns that every configuration has")
    if method.training is not None:
        missing = [key for key in method.training.keys if key not in method.params]
        if missing:
            raise ValueError(f"{where}: training keys {missing} are not folder parameters ({list(method.params)})")
    tables = [t for t in (method.table, method.training.table if method.training else None) if t is not None]
    for table in tables:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", table):
            raise ValueError(f"{where}: table name {table!r}: lower-case letters, digits and underscores (it is "
                             f"the file name results/tables/{table}.csv)")
        for other in REGISTRY.values():
            if other.name != method.name and table in (other.table, other.training.table if other.training else None):
                raise ValueError(f"{where}: table '{table}' is already the table of method '{other.name}'")


def _spelled(params: dict) -> str:
    return ", ".join(f"{k}: {getattr(v, '__name__', v)}" for k, v in params.items())
