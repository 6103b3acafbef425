"""Checks on a config that JSON Schema cannot express, and the names derived from it (embedding spaces)."""

from __future__ import annotations

from pathlib import Path

from .embed import FEATURE_DIMS, weights_kind


class ConfigError(ValueError):
    """A config value is wrong; the message names the field."""


def pca_space_names(model: dict) -> list[str]:
    """'{model}-pca{dims}' for each configured dimension, '{model}-pcavar{percent}' for each variance target."""
    pca = model.get("pca") or {}
    names = [f"{model['name']}-pca{d}" for d in pca.get("dims", [])]
    names += [f"{model['name']}-pcavar{v * 100:g}" for v in pca.get("variance", [])]
    return names


def parse_pca_space(space: str) -> tuple[str, str, float]:
    """'resnet18-pca248' -> ('resnet18', 'dims', 248); 'resnet18-pcavar95' -> ('resnet18', 'variance', 0.95)."""
    model, _, spec = space.rpartition("-pca")
    if spec.startswith("var"):
        return model, "variance", float(spec[3:]) / 100
    return model, "dims", int(spec)


def check(config: dict) -> None:
    """Raise ConfigError for what the schema cannot see: duplicate names, missing files, impossible PCA sizes."""
    seen: set[str] = set()
    for i, dataset in enumerate(config["datasets"]):
        where = f"datasets[{i}] ('{dataset['name']}')"
        if dataset["name"] in seen:
            raise ConfigError(f"{where}: name '{dataset['name']}' is used twice; dataset names must be unique")
        seen.add(dataset["name"])
        if dataset["source"] == "imagefolder" and not Path(dataset["path"]).is_dir():
            raise ConfigError(f"{where}.path: {dataset['path']} is not a directory of class sub-folders")
        if dataset.get("query_path") and not Path(dataset["query_path"]).is_dir():
            raise ConfigError(f"{where}.query_path: {dataset['query_path']} is not a directory of class sub-folders")
    seen = set()
    for i, model in enumerate(config["models"]):
        where = f"models[{i}] ('{model['name']}')"
        if model["name"] in seen:
            raise ConfigError(f"{where}: name '{model['name']}' is used twice; model names must be unique")
        seen.add(model["name"])
        if weights_kind(model["weights"]) == "file" and not Path(model["weights"]).is_file():
            raise ConfigError(
                f"{where}.weights: '{model['weights']}' is neither a torchvision weights name (e.g. IMAGENET1K_V1), "
                f"'none', nor an existing state-dict file; place the file there or fix the value"
            )
        dims = (model.get("pca") or {}).get("dims", [])
        full = FEATURE_DIMS[model["arch"]]
        for d in dims:
            if d > full:
                raise ConfigError(f"{where}.pca.dims: {d} exceeds the {model['arch']} embedding size {full}")
