"""lshbench: a reproducible benchmark of hashing methods for image retrieval."""

__version__ = "0.1.0"
