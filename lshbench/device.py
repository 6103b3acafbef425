"""The config's ``device`` as a torch device, for every job that computes (embedding, training, method jobs): a module of
its own, so that those jobs' code (lshbench.code) does not take in the embedding code."""

from __future__ import annotations

import torch

from .errors import DeviceUnavailable


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable(f"device '{device}' was asked for but this job sees no CUDA device (torch "
                                f"{torch.__version__}, CUDA build: {torch.version.cuda}); set device: auto or cpu")
    return resolved
