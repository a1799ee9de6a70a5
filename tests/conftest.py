"""Shared fixtures: keras imported once per session, models saved in both file formats."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FORMATS = ("keras", "h5")


@pytest.fixture(scope="session")
def keras() -> Any:
    """The keras module (tensorflow backend), imported once per test session."""
    import logging

    import keras as keras_module

    logging.getLogger("absl").setLevel(logging.ERROR)
    keras_module.utils.set_random_seed(0)
    return keras_module


SaveModel = Callable[..., dict[str, Path]]


@pytest.fixture(scope="session")
def save_model(tmp_path_factory: pytest.TempPathFactory) -> SaveModel:
    """save_model(model, name) -> {"keras": path, "h5": path}."""
    root = tmp_path_factory.mktemp("models")

    def save(model: Any, name: str, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
        paths = {}
        for fmt in formats:
            path = root / f"{name}.{fmt}"
            model.save(path)
            paths[fmt] = path
        return paths

    return save
