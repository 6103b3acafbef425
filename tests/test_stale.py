"""Nothing stale: every result follows its code, its data files and its input images, and one config gives one
experiment wherever Snakemake runs (issue 26).

A copy of the project runs a small config that exercises every rule the offline machine can run (download, embed,
PCA, synthesis, import, exact neighbours, training, every method, metrics, Hamming, tables, plots, collected metrics,
checksums). Then each module of lshbench/ and each data file is edited in turn, and `snakemake -n` must plan exactly
the jobs whose code includes it: the rule's script, what the script imports (followed through the modules they
import) and the plug-ins the job dispatches to (its method's or its dataset's source's module; for a table or plot,
the methods whose files it reads), with the data files those modules name; everything else planned must follow from
those (its input updated by another job). Downloads, embeddings and PCA are not re-run by a code edit: the dry run
names each of them as "code changed since this file was made" instead.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml

from lshbench.code import closure, data_files, module_path, script_imports
from lshbench.methods import REGISTRY
from lshbench.sources import REGISTRY as SOURCES

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("Snakefile", "config.yaml", "rules", "lshbench", "workflow", "schemas", "report", "envs", "profiles")
# Rules whose outputs a code edit does not re-run (hours at ImageNet's size): they are named instead.
RECORDED = {"download", "embed", "pca", "fetch_weights"}
SOURCE_RULES = {"download", "embed", "import_embeddings", "synthesize"}
EDIT = "\n# an edit by tests/test_stale.py\n"

CONFIG = {
    "seed": 0,
    "seeds": [0],
    "embedding": {"batch_size": 64, "num_workers": 0, "threads": 1},
    "evaluation": {"threads": 1, "latency_queries": 20},
    "datasets": [
        {"name": "digits", "source": "digits", "gallery_limit": 400, "query_limit": 100,
         "grids": {"kmeans": {"K": [5]}, "hyperplane": {"H": [4], "L": [2]}, "neural": {"J": [4]},
                   "itq": {"H": [8], "L": [1]}, "multiprobe": {"H": [8], "L": [1], "probes_radius": [1]},
                   "pcah": {"H": [8]}, "spectral": {"H": [8]},
                   "ivfpq": {"nlist": [8], "M": [8], "nbits": [6], "nprobe": [2], "rerank": [50]},
                   "rabitq": {"nlist": [8], "nprobe": [2], "rerank": [50]},
                   "hnsw": {"M": [8], "efConstruction": [20], "efSearch": [20]}},
         "hamming": {"bits": [8]}},
        {"name": "blobs", "source": "synthetic", "gallery_size": 300, "query_size": 50, "classes": 5,
         "grids": {"kmeans": {"K": [5]}}},
        {"name": "features", "source": "embeddings", "space": "imported", "gallery_file": "features/gallery.npy",
         "query_file": "features/query.npy", "gallery_labels": "features/gallery_labels.npy",
         "query_labels": "features/query_labels.npy", "grids": {"kmeans": {"K": [4]}}},
    ],
    "models": [{"name": "resnet18", "arch": "resnet18", "weights": "none", "image_size": 32, "pca": {"dims": [16]}}],
    "methods": {
        "kmeans": {"spaces": ["resnet18", "resnet18-pca16", "imported"]},
        "hyperplane": {"spaces": ["resnet18"], "center": [True]},
        "neural": {"spaces": ["resnet18"], "H": 32, "epochs": 2, "standardize": [True]},
        "itq": {"spaces": ["resnet18"]},
        "multiprobe": {"spaces": ["resnet18"]},
        "pcah": {"spaces": ["resnet18"]},
        "spectral": {"spaces": ["resnet18"]},
        "ivfpq": {"spaces": ["resnet18"]},
        "rabitq": {"spaces": ["resnet18"]},
        "hnsw": {"spaces": ["resnet18"]},
    },
}


def parallelism() -> int:
    """How many Snakemake processes the tests run at once: one for each CPU this process may use (a `--summary` of
    the edit test's config is single-threaded Python; LSHBENCH_TEST_PARALLEL overrides)."""
    if os.environ.get("LSHBENCH_TEST_PARALLEL"):
        return max(1, int(os.environ["LSHBENCH_TEST_PARALLEL"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def in_parallel(*calls):
    """The results of the given functions (no arguments), run at once in threads (each a subprocess), in order."""
    with ThreadPoolExecutor(max(1, min(len(calls), parallelism()))) as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]


def copy_project(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in PROJECT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, target / name)
    return target


def run(project: Path, workdir: Path, *args: str, config: Path | None = None, check: bool = True):
    """The real Snakemake CLI on the copy's Snakefile, importing the copy's lshbench (its folder comes first)."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(project / "Snakefile"), "--cores",
               str(max(2, parallelism())), "--scheduler", "greedy"]
    if workdir != project:
        command += ["--directory", str(workdir)]
    command += list(args)  # targets before --configfile, which takes several values
    if config is not None:
        command += ["--configfile", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(project)}
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env)
    result.output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.output[-6000:]}")
    return result


def planned_jobs(output: str) -> list[dict]:
    """The jobs of a dry run: rule, wildcards, input, output and reason of each, from Snakemake's printed blocks."""
    jobs, job = [], None
    for line in output.splitlines():
        head = re.fullmatch(r"(?:local)?rule (\w+):", line.strip())
        if head and not line.startswith(" "):
            job = {"rule": head.group(1)}
            jobs.append(job)
        elif job is not None and line.startswith("    ") and ": " in line:
            key, _, value = line.strip().partition(": ")
            job[key] = value
        elif not line.strip():
            job = None
    return [j for j in jobs if j["rule"] != "all"]


def job_id(job: dict) -> str:
    return f"{job['rule']}: {job.get('output', job.get('wildcards', ''))}"


def rule_scripts(project: Path) -> dict[str, Path]:
    """rule name -> the script its `script:` directive runs, read from the rule files."""
    scripts = {}
    for smk in (project / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", smk.read_text(), re.M):
            found = re.search(r'script:\s*"\.\./workflow/scripts/(\w+\.py)"', body)
            if found:
                scripts[name] = project / "workflow" / "scripts" / found.group(1)
    return scripts


def plugins(job: dict, sources: dict[str, str]) -> list[str]:
    """The plug-in modules a job dispatches to: its method's; its dataset's source's for the rules that open one; for
    a table or plot, the methods whose files it reads (the method segment of its inputs) and, for a retrieval
    picture, its dataset's source."""
    wildcards = dict(w.split("=", 1) for w in job.get("wildcards", "").split(", ") if "=" in w)
    modules = []
    if "method" in wildcards:
        modules.append(REGISTRY[wildcards["method"]].module)
    if job["rule"] in SOURCE_RULES:
        modules.append(SOURCES[sources[wildcards["dataset"]]].module)
    if job["rule"] in ("table", "plot", "interactive"):
        read = re.findall(r"results/\w+/(?:metrics|hamming|train)/[\w.-]+/(\w+)(?:/|\.json)", job.get("input", ""))
        modules += [REGISTRY[m].module for m in dict.fromkeys(read)]
        picture = re.fullmatch(r"(\w+?)_retrieved_\w+", wildcards.get("plot", ""))
        if picture:
            modules.append(SOURCES[sources[picture.group(1)]].module)
    return modules


def code_of(job: dict, scripts: dict[str, Path], sources: dict[str, str]) -> set[str]:
    """The files (relative to the project) a job's code is made of, by the rule of the module docstring."""
    modules = closure(*script_imports(scripts[job["rule"]]), *plugins(job, sources))
    files = {str(module_path(m).relative_to(REPO)) for m in modules}
    files |= {str(p.relative_to(REPO)) for m in modules for p in data_files(m)}
    return files


def write_features(folder: Path) -> None:
    """Imported features: two clustered classes of 8-d vectors and their labels."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("gallery", 60), ("query", 20)):
        labels = np.arange(n) % 2
        vectors = rng.normal(size=(n, 8)).astype(np.float32) + 3 * labels[:, None]
        np.save(folder / f"{split}.npy", vectors)
        np.save(folder / f"{split}_labels.npy", labels)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A copy of the project and a finished run of CONFIG in it (its own folder, beside its config.yaml)."""
    project = copy_project(tmp_path_factory.mktemp("stale") / "project")
    write_features(project / "features")
    config = project / "edit-test.yaml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    run(project, project, config=config)
    assert "Nothing to be done" in run(project, project, "-n", config=config).output
    return project, config


def clone(project: Path, target: Path) -> Path:
    """A copy of a finished project folder (its code, config, results and Snakemake's records, all of .snakemake:
    no lock is held between runs), modification times kept: as current as the original (the code hashes and
    Snakemake's records hold no absolute paths)."""
    shutil.copytree(project, target, symlinks=True)
    return target


class Copies:
    """The finished project and copies of it, made when needed, so that Snakemake runs on several at once (one
    process for each CPU, ``parallelism()``): each task has a folder to itself while it runs and leaves it as it found
    it (an edit undone). The summary after each edit is made once in the module (``after_edit``)."""

    def __init__(self, project: Path, config: Path, base: Path):
        self.project, self.config, self.base = project, config.name, base
        self.folders = [project]
        self.summaries: dict[str, tuple[dict, str]] = {}

    def map(self, tasks: list) -> list:
        """The results of ``tasks`` (each a function of a project folder and its config file), in order, run at once
        in as many folders as there are CPUs. The first error is raised; tasks not yet started then do not start."""
        n = max(1, min(len(tasks), parallelism()))
        while len(self.folders) < n:
            self.folders.append(clone(self.project, self.base / f"copy{len(self.folders)}"))
        free = queue.SimpleQueue()
        for folder in self.folders[:n]:
            free.put(folder)
        failed = threading.Event()

        def do(task):
            if failed.is_set():  # a task started before this one failed: its error is raised first
                return None
            folder = free.get()
            try:
                return task(folder, folder / self.config)
            except BaseException:
                failed.set()
                raise
            finally:
                free.put(folder)

        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(do, task) for task in tasks]
        return [future.result() for future in futures]

    def each(self, task) -> list:
        """``task`` (a function of a project folder and its config file) run in every folder, at once."""
        with ThreadPoolExecutor(len(self.folders)) as pool:
            return list(pool.map(lambda folder: task(folder, folder / self.config), self.folders))

    def after_edits(self, names: list[str], *before) -> tuple[list, list]:
        """The results of the tasks ``before`` and ``after_edit`` of each of ``names`` (those not made yet in this
        module), run together, ``before`` first."""
        todo = [name for name in dict.fromkeys(names) if name not in self.summaries]
        edits = [lambda folder, config, name=name: after_edit(folder, config, name) for name in todo]
        results = self.map([*before, *edits])
        self.summaries.update(zip(todo, results[len(before):]))
        return results[:len(before)], [self.summaries[name] for name in names]

    def after_edit(self, name: str) -> tuple[dict, str]:
        return self.after_edits([name])[1][0]


@pytest.fixture(scope="module")
def copies(finished, tmp_path_factory):
    project, config = finished
    return Copies(project, config, tmp_path_factory.mktemp("copies"))


def summary(project: Path, config: Path) -> tuple[dict[str, tuple[str, str, str]], str]:
    """`snakemake --summary`: {output: (rule, status, plan)} (status 'params changed' for an output whose job's params,
    its code hash among them, changed; plan 'update pending' for one the next run re-makes) and the printed text."""
    result = run(project, project, "--summary", config=config)
    rows = {}
    for line in result.stdout.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 5:
            rows[fields[0]] = (fields[2], fields[-2], fields[-1])
    return rows, result.output


def after_edit(project: Path, config: Path, name: str):
    """The summary of the finished run with ``name`` edited (a comment appended), then the edit undone."""
    path = project / name
    original = path.read_bytes()
    path.write_bytes(original + EDIT.encode())
    try:
        return summary(project, config)
    finally:
        path.write_bytes(original)


def changed(rows: dict) -> set[str]:
    """The outputs whose job's params changed: the jobs an edit re-runs itself, not as a consequence."""
    return {output for output, (_, status, _) in rows.items() if status == "params changed"}


def test_every_edit_replans_exactly_the_jobs_whose_code_includes_it(finished, copies):
    """Each edit's summary runs in a copy of the finished project of its own (copies: one for each CPU), the dry run of
    every job and the summary of the finished run beside them; all is checked afterwards, in the order of the names."""
    project, config = finished
    edited = sorted(str(p.relative_to(project)) for p in (project / "lshbench").rglob("*")
                    if p.suffix in (".py", ".csv", ".txt", ".html") and "__pycache__" not in p.parts)
    assert "lshbench/data/report_figures.csv" in edited and "lshbench/io.py" in edited

    def current(folder: Path, config: Path):
        rows, text = summary(folder, config)
        assert not changed(rows), "the finished run is not current"  # here: no edit is tried on a stale run
        return rows, text

    started = time.perf_counter()
    (forced, (rows, _)), summaries = copies.after_edits(
        edited, lambda folder, config: run(folder, folder, "-n", "--forceall", config=config).output, current)
    seconds = time.perf_counter() - started
    everything = planned_jobs(forced)
    scripts = rule_scripts(project)
    assert {j["rule"] for j in everything} - set(scripts) == set(), "a rule without a script"
    assert {j["rule"] for j in everything} >= {"download", "embed", "pca", "synthesize", "import_embeddings",
                                              "exact_neighbours", "train", "run_method", "metrics", "hamming",
                                              "table", "plot", "collect_metrics", "checksums"}
    sources = {d["name"]: d["source"] for d in CONFIG["datasets"]}
    code = {job_id(j): code_of(j, scripts, sources) for j in everything}
    outputs = {job_id(j): j["output"].split(", ") for j in everything}
    owner = {out: job for job, outs in outputs.items() for out in outs}
    readers: dict[str, set[str]] = {}
    for j in everything:
        for path in j.get("input", "").split(", "):
            if path in owner:
                readers.setdefault(owner[path], set()).add(job_id(j))

    def following(jobs: set[str]) -> set[str]:
        seen, todo = set(), list(jobs)
        while todo:
            for reader in readers.get(todo.pop(), ()):
                if reader not in seen:
                    seen.add(reader)
                    todo.append(reader)
        return seen

    assert set(rows) == set(owner) and not changed(rows), "the finished run is not current"
    table = []
    for name, (rows, text) in zip(edited, summaries):
        direct = {owner[out] for out in changed(rows)}
        planned = {owner[out] for out, (_, _, plan) in rows.items() if plan == "update pending"}
        expected = {job for job, files in code.items() if name in files}
        recorded = {job for job in expected if job.split(":")[0] in RECORDED}
        assert direct == expected - recorded, f"{name}: re-planned {sorted(direct ^ (expected - recorded))} wrongly"
        assert direct <= planned <= direct | following(direct), \
            f"{name}: planned {sorted(planned - direct - following(direct))}, which follow from no edited job"
        if name in ("lshbench/ranking.py", "lshbench/io.py", "lshbench/pictures.py", "lshbench/layout.py"):
            # the retrieval picture reads rankings and images through them: never missed
            assert any(job.startswith("plot: results/plots/digits_retrieved") for job in direct), name
        named = set(re.findall(r"^  (\S+): code changed since this file was made", text, re.M))
        assert named == {out for job in recorded for out in outputs[job]}, f"{name}: named {sorted(named)}"
        counts = {}
        for job in sorted(expected):
            rule = job.split(":")[0] + (" (named)" if job in recorded else "")
            counts[rule] = counts.get(rule, 0) + 1
        table.append(f"| `{name}` | {', '.join(f'{r} {n}' for r, n in counts.items()) or 'none'} |")
    report = "\n".join(["| edited | jobs whose code includes it (re-run; named: reported, not re-run) |",
                        "|---|---|", *table,
                        f"\n{len(edited)} edits, {seconds:.0f} s ({len(copies.folders)} at once)"])
    print(report)
    if os.environ.get("LSHBENCH_EDIT_TABLE"):
        Path(os.environ["LSHBENCH_EDIT_TABLE"]).write_text(report + "\n")
    # every folder an edit was made in is as current as before: each edit was undone
    assert not any(copies.each(lambda folder, config: changed(summary(folder, config)[0])))


def test_the_imports_read_cover_what_python_loads(finished):
    """The code of a job found by reading import statements holds every lshbench module Python loads for its script,
    but the plug-ins the registries import by name (method and source modules), which each job adds as its own."""
    project, _ = finished
    plugin_modules = [e.module for e in REGISTRY.values()] + [e.module for e in SOURCES.values()]

    def loads(script: Path) -> list[str]:
        probe = ("import ast, sys\n"
                 f"tree = ast.parse(open({str(script)!r}).read())\n"
                 "body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]\n"
                 "exec(compile(ast.Module(body, []), 'imports', 'exec'))\n"
                 "print(' '.join(m for m in sys.modules if m.split('.')[0] == 'lshbench'))\n")
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": str(project)}).stdout.split()

    scripts = sorted((project / "workflow" / "scripts").glob("*.py"))
    for script, loaded in zip(scripts, in_parallel(*[lambda script=script: loads(script) for script in scripts])):
        assert loaded, script.name
        found = set(closure(*script_imports(script), *plugin_modules))
        assert set(loaded) <= found, f"{script.name}: {sorted(set(loaded) - found)} loaded but not in its code"


def edited(path: Path, text: str = EDIT):
    original = path.read_bytes()
    path.write_bytes(original + text.encode())
    return original


def rules_changed(copies: Copies, name: str) -> dict[str, str]:
    """{output: rule} of the outputs whose job's params changed after ``name`` is edited (the summary the edit test
    made, when it ran)."""
    rows, _ = copies.after_edit(name)
    return {out: rows[out][0] for out in changed(rows)}


def test_an_edit_of_io_replans_the_hamming_and_training_jobs(copies):
    rules = set(rules_changed(copies, "lshbench/io.py").values())
    assert {"hamming", "train", "run_method", "table", "plot", "metrics"} <= rules


def test_the_retrieval_picture_follows_the_ranking_module(copies):
    assert "results/plots/digits_retrieved_exact.png" in rules_changed(copies, "lshbench/ranking.py")


def test_a_transcribed_report_number_is_an_input_of_the_comparison(copies):
    direct = rules_changed(copies, "lshbench/data/report_figures.csv")
    assert "results/tables/vs_report.csv" in direct
    assert set(direct.values()) <= {"table", "plot", "interactive"}  # no method job reads it


def test_a_code_edit_names_the_embeddings_it_does_not_rerun_and_verify_fails(copies):
    """The dry run (then `verify` with the edit undone) and `verify` with the edit, in two folders at once."""

    def dry_run(project: Path, config: Path):
        path = project / "lshbench" / "decode.py"
        original = edited(path)
        try:
            dry = run(project, project, "-n", config=config).output
        finally:
            path.write_bytes(original)
        return dry, run(project, project, "verify", config=config).returncode

    def verify_edited(project: Path, config: Path):
        path = project / "lshbench" / "decode.py"
        original = edited(path)
        try:
            return run(project, project, "verify", config=config, check=False)
        finally:
            path.write_bytes(original)

    (dry, verified), verify = copies.map([dry_run, verify_edited])
    named = set(re.findall(r"^  (\S+): code changed since this file was made \((.*)\)", dry, re.M))
    assert named == {(f"results/digits/embeddings/resnet18/{s}.parquet", "lshbench/decode.py")
                     for s in ("gallery", "query")}
    assert "--forcerun embed" in dry and not planned_jobs(dry)
    assert verify.returncode != 0
    assert "results/digits/embeddings/resnet18/gallery.parquet: code changed since this file was made" in verify.output
    assert verified == 0


def test_one_config_plans_the_same_study_from_any_working_directory(finished, tmp_path):
    """The finished run (made beside the project's config.yaml), copied to a folder without one and planned from
    there with --directory: the same jobs with the same params, so nothing to do."""
    project, config = finished
    elsewhere, deployed = tmp_path / "elsewhere", tmp_path / "deployed"  # planned at once
    for folder in (elsewhere, deployed):
        folder.mkdir()
        for name in ("results", "resources", ".snakemake", "features"):
            shutil.copytree(project / name, folder / name, symlinks=True,
                            ignore=shutil.ignore_patterns("locks", "incomplete"))
    # Snakemake's convention for a deployed workflow: a config.yaml in the working directory is read instead
    (deployed / "config.yaml").write_text(yaml.safe_dump({"seeds": [0, 1]}))
    dry, dry_deployed = in_parallel(lambda: run(project, elsewhere, "-n", config=config),
                                    lambda: run(project, deployed, "-n", config=config))
    assert f"Config files read (each over the one before): {project / 'config.yaml'}, {config}" in dry.output
    assert "Nothing to be done" in dry.output, dry.output[-3000:]
    assert f"Config files read (each over the one before): {deployed / 'config.yaml'}, {config}" in dry_deployed.output


def imagefolder(root: Path, counts: dict[str, int], seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, (name, count) in enumerate(counts.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (12, 12, 3)).astype(np.uint8) // (label + 1)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_images_added_replaced_or_a_class_added_rerun_the_dataset(tmp_path):
    """A finished embeddings-only run on a written ImageFolder: each change to the folder re-plans its preparation,
    its embedding and what follows (the checksum list); nothing else re-plans it."""
    project = copy_project(tmp_path / "project")
    images = tmp_path / "images"
    imagefolder(images, {"cat": 6, "dog": 6})
    config = tmp_path / "folder.yaml"
    config.write_text(yaml.safe_dump({
        "seeds": [0], "embedding": {"batch_size": 8, "num_workers": 0, "threads": 1},
        "datasets": [{"name": "pets", "source": "imagefolder", "path": str(images), "query_fraction": 0.34}],
        "models": [{"name": "resnet18", "arch": "resnet18", "weights": "none", "image_size": 16}],
        # no method: every method config.yaml gives spaces gets none here
        "methods": {m: {"spaces": []} for m, settings in yaml.safe_load((REPO / "config.yaml").read_text())[
            "methods"].items() if "spaces" in settings}}))
    run(project, project, config=config)
    assert "Nothing to be done" in run(project, project, "-n", config=config).output

    def replanned() -> set[str]:
        return {j["rule"] for j in planned_jobs(run(project, project, "-n", config=config).output)}

    from PIL import Image

    shutil.copy(images / "cat" / "0.png", images / "cat" / "extra.png")  # an image added
    assert replanned() == {"download", "embed", "checksums"}
    run(project, project, config=config)
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(images / "dog" / "1.png")  # replaced in place
    assert replanned() == {"download", "embed", "checksums"}
    run(project, project, config=config)
    imagefolder(images, {"cat": 0, "dog": 0, "fox": 3}, seed=1)  # a class folder added
    assert replanned() == {"download", "embed", "checksums"}


def test_a_local_hugging_face_directory_is_fingerprinted(tmp_path):
    from lshbench.sources import data_fingerprint

    folder = tmp_path / "hf"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-00000.parquet").write_bytes(b"x" * 10)
    dataset = {"name": "d", "source": "huggingface", "hf_id": str(folder)}
    before = data_fingerprint(dataset)
    assert before and data_fingerprint(dataset) == before
    (folder / "data" / "train-00001.parquet").write_bytes(b"y" * 10)
    assert data_fingerprint(dataset) != before
    assert data_fingerprint({**dataset, "hf_id": "ILSVRC/imagenet-1k"}) == ""  # the hub: no local files
