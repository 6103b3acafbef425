"""Names derived from the config's models, torch-free and apart from lshbench.config: the backbones' feature sizes, what a
``weights`` value names, and the names of a model's PCA spaces. The embedding and PCA jobs use them, so their code
(lshbench.code) does not take in the config's checks."""

from __future__ import annotations

# The report's backbones; any torchvision classification model name is accepted (its feature size is read from the
# model in the embedding job), these are the ones whose feature size is known at parse time.
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


def weights_kind(weights: str) -> str:
    """'random' for none, 'named' for a torchvision weights name (IMAGENET1K_V1, DEFAULT, ...), else 'file'."""
    if weights.lower() == "none":
        return "random"
    if weights.replace("_", "").isalnum() and weights.upper() == weights:
        return "named"
    return "file"


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
