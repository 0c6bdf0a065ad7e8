"""Inspect model providers shipped with prereview: `local` (GGUF via llama.cpp) and `scripted`."""

from prereview.models.catalog import (
    InvalidModelFileError,
    ModelResolutionError,
    UnknownModelError,
    available_models,
    resolve_model,
)

__all__ = [
    "InvalidModelFileError",
    "ModelResolutionError",
    "UnknownModelError",
    "available_models",
    "resolve_model",
]
