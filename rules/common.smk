import json
import os
import sys

from snakemake.exceptions import WorkflowError

from lshbench import layout, targets
from lshbench.code import rule_code
from lshbench.config import FEATURE_DIMS, ConfigError, build_settings, check, validate
from lshbench.config import data_settings, dataset_spaces, datasets_of_kind, job_keys
from lshbench.config import (
    hamming_builds,
    hamming_plan,
    parse_pca_space,
    pca_space_names,
    plan,
)
from lshbench.config import source_inputs, weights_kind
from lshbench.methods import REGISTRY
from lshbench.report import interactive_of, plots_of, tables_of, trained_methods
from lshbench.sources import REGISTRY as SOURCES, data_fingerprint, IMPORTED, SYNTHETIC

try:
    # the schema file plus each method's config block and grid and each source's fields, from the registries
    validate(config, os.path.join(workflow.basedir, "schemas", "config.schema.yaml"))
    check(config)
except ConfigError as error:
    raise WorkflowError(f"Invalid config: {error}")


# One experiment per config, wherever it runs: say which config files were read (the Snakefile reads the project's
# config.yaml, or one in the working directory; presets given with --configfile go over it).
def config_files_read():
    """The config files this run read, in the order they apply: the Snakefile's, then each --configfile over it."""
    given = [os.path.abspath(f) for f in workflow.config_settings.configfiles]
    read = [os.path.abspath(f) for f in workflow.configfiles]
    return [f for f in read if f not in given] + given


if workflow.is_main_process:
    print(
        "Config files read (each over the one before): "
        + ", ".join(config_files_read()),
        file=sys.stderr,
    )

# Jobs import lshbench from this checkout, also inside `--sdm conda` environments that do not install it.
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")])
    )
)

# Rules that run on the device ask for one GPU unless the config pins them to the CPU.
GPU = 0 if config["device"] == "cpu" else 1

DATASETS = {d["name"]: d for d in config["datasets"]}
MODELS = {m["name"]: m for m in config["models"]}
PCA_SPACES = sorted({name for m in config["models"] for name in pca_space_names(m)})
SPLITS = list(layout.SPLITS)

# Resources, declared once. Jobs on the device (embedding; exact neighbours, training and method jobs, with the
# evaluation settings) ask for the GPU; CPU jobs that hold one space's vectors in memory (PCA, imports, synthetic
# features) share one size.
EMBED_RESOURCES = dict(
    gpu=GPU,
    mem_mb=config["embedding"]["mem_mb"],
    runtime=config["embedding"]["runtime"],
)
DEVICE_RESOURCES = dict(
    gpu=GPU,
    mem_mb=config["evaluation"]["mem_mb"],
    runtime=config["evaluation"]["runtime"],
)
CPU_RESOURCES = dict(mem_mb=8000, runtime=60)


# One path segment, one name: {space} is an embedding space everywhere (a model's name, its PCA variants, an
# imported space); the rules that make each kind narrow it.
wildcard_constraints:
    dataset="|".join(DATASETS),
    split="|".join(SPLITS),
    arch="|".join(sorted({m["arch"] for m in config["models"]})),
    weights_name="[A-Z0-9_]+",
    space="[a-z][a-z0-9_]*(-pca(var)?[0-9.]+)?",
    params="[A-Za-z0-9_=.-]+",


def dataset_settings(wildcards):
    """The dataset's data settings (lshbench.config.data_settings) as one JSON string: a plain, order-stable param."""
    return json.dumps(
        data_settings(config, DATASETS[wildcards.dataset]), sort_keys=True
    )


def dataset_fingerprint(wildcards):
    """The listing (names, sizes, modification times) of the user's files a dataset is read from, hashed: adding,
    removing or replacing an image re-runs the preparation, the embedding and what follows (lshbench.sources).
    """
    return data_fingerprint(DATASETS[wildcards.dataset])


def model_setting(key):
    def get(wildcards):
        return MODELS[wildcards.space][key]

    return get


def weights_input(wildcards):
    """Named torchvision weights come from the fetch_weights rule, a file is used as it is, 'none' needs nothing."""
    model = MODELS[wildcards.space]
    kind = weights_kind(model["weights"])
    if kind == "named":
        return layout.weights_file(model["arch"], model["weights"])
    if kind == "file":
        return model["weights"]
    return []


# Routing by how each dataset's source produces its vectors (the source registry, lshbench/sources/).
IMPORTED_SETS = datasets_of_kind(config, IMPORTED)
IMPORTED_SPACES = [s for d in IMPORTED_SETS.values() for s in dataset_spaces(config, d)]
SYNTHETIC_SETS = datasets_of_kind(config, SYNTHETIC)
IMAGES = targets.images(config)  # downloaded, embedded by a model


def feature_dim(wildcards):
    """A model's feature size, for synthetic features in its space."""
    return FEATURE_DIMS[MODELS[wildcards.space]["arch"]]


def pca_input(wildcards):
    """A PCA space's source: the embeddings of its model (resnet18-pca248 -> resnet18)."""
    model, _, _ = parse_pca_space(wildcards.space)
    return {
        split: layout.embeddings(wildcards.dataset, model, split) for split in SPLITS
    }


def imported_files(wildcards):
    """The precomputed feature files (and label files) of an imported dataset: inputs, so editing one re-imports it."""
    return source_inputs(IMPORTED_SETS[wildcards.dataset])


def never_if_empty(names):
    """A wildcard constraint matching exactly these names (one that matches nothing when there are none)."""
    return "|".join(names) or "(?!)"


PLAN = plan(config)  # every configuration's key (lshbench.layout.Key), in plan order
PLANNED = list(dict.fromkeys(k.method for k in PLAN))  # methods with configurations
HAMMING_METHODS = list(dict.fromkeys(k.method for _, k in hamming_plan(config)))
TRAINED = trained_methods(config)
# the report's registry
TABLES = tables_of(config)
PLOTS = plots_of(config)
INTERACTIVE = interactive_of(config)


def run_configurations(w):
    """The folder names of a method job's configurations: adding one re-runs the job, which builds only it."""
    return [k.folder for k in job_keys(config, w.dataset, w.space, w.method)]


def method_settings(w):
    """The build settings of a method beyond its folder parameters (JSON): only its jobs re-run when one changes."""
    return json.dumps(
        build_settings(config, DATASETS[w.dataset], w.method), sort_keys=True
    )


def trained_from(keys):
    """The training step's arrays ``keys`` use ({} for methods without one)."""
    folders = dict.fromkeys((k.job, k.training) for k in keys if k.training)
    models = [layout.training_file(*job, t, "model.npz") for job, t in folders]
    return {"trained": models} if models else {}


def trained_inputs(w):
    return trained_from(job_keys(config, w.dataset, w.space, w.method))


def hamming_job(w):
    """The [bits, folder] builds of a Hamming job, as JSON: a new code length or seed re-runs the job."""
    builds = hamming_builds(config, w.dataset, w.space, w.method)
    return json.dumps([[b, k.folder] for b, k in builds])


def hamming_trained_inputs(w):
    return trained_from(
        [k for _, k in hamming_builds(config, w.dataset, w.space, w.method)]
    )


def method_code(script):
    """The ``code`` param of the jobs of one method: its script, what that imports and the method's module with what
    it imports (lshbench.code): an edit re-runs the jobs it can change, of that method only.
    """
    return lambda wildcards: rule_code(script, REGISTRY[wildcards.method].module)


def source_code(script):
    """The ``code`` param of a rule whose jobs open one dataset's source (import, synthesis)."""
    return lambda w: rule_code(script, SOURCES[DATASETS[w.dataset]["source"]].module)


def method_conda(wildcards):
    """Methods with a training step (a network) build with the GPU environment."""
    trained = REGISTRY[wildcards.method].training is not None
    return "../envs/gpu.yaml" if trained else "../envs/cpu.yaml"


# The `table` and `plot` rules' inputs and params, from each entry of the report's registry.
def entry_inputs(entries, wildcard):
    """What a table or plot reads (the metrics jobs' manifests, histories, Hamming files, a picture's images)."""
    return lambda w: entries[w[wildcard]].inputs()


def entry_setting(entries, wildcard, attribute):
    return lambda w: getattr(entries[w[wildcard]], attribute)


def entry_signature(entries, wildcard):
    return lambda w: entries[w[wildcard]].signature()


def entry_code(entries, wildcard, script):
    """A table's or plot's ``code`` param: its script, what that imports, and the plug-ins it reads (lshbench.code)."""
    return lambda w: rule_code(script, *entries[w[wildcard]].plugins)


# Downloads, embeddings and PCA are not re-run by a code edit (hours at ImageNet's size): every start of the workflow
# says which were made by other code (lshbench.targets).
if workflow.is_main_process and (stale := targets.stale_outputs(config)):
    print(targets.stale_warning(stale), file=sys.stderr)
