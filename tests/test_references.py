"""How a serialized object's name is resolved and judged (rules/_references.py), and the
catalog of Keras's names it is judged against, which must be what Keras defines."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditor.results.findings import Severity
from auditor.rules._references import Resolved, catalog, judge, keras_class, resolve
from tests.keras_catalog import build

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "rules" / "_keras_names.json"


def test_the_shipped_catalog_is_what_the_installed_keras_defines(keras):
    built = json.dumps(build(), indent=1) + "\n"
    if os.environ.get("UPDATE_CATALOG"):
        SHIPPED.write_text(built)
    assert SHIPPED.read_text() == built, "rules/_keras_names.json is stale: UPDATE_CATALOG=1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"module": "keras.layers", "class_name": "Dense"}, ("keras.layers.Dense", "module")),
        ({"module": "keras", "class_name": "layers.Lambda"}, ("keras.layers.Lambda", "module")),
        (
            {"module": "keras.layers", "class_name": "Dense", "registered_name": "acme>Backdoor"},
            ("acme>Backdoor", "registered"),
        ),
        (
            {"module": "keras", "class_name": "function", "config": "utils.get_file"},
            ("keras.utils.get_file", "module"),
        ),
        (
            {"module": "builtins", "class_name": "function", "config": "relu"},
            ("builtins.relu", "builtins"),
        ),
        ({"class_name": "Dense", "config": {}}, ("Dense", "legacy")),
        (
            {"module": "keras", "class_name": "Functional", "registered_name": "Functional"},
            ("keras.Functional", "module"),
        ),
        (
            {"class_name": "__typespec__", "spec_name": "TensorSpec", "module": "tensorflow"},
            ("tensorflow.TensorSpec", "module"),
        ),
    ],
)
def test_names_resolve_as_keras_resolves_them(value, expected):
    resolved = resolve(value)
    assert resolved is not None and (resolved.name, resolved.how) == expected


@pytest.mark.parametrize(
    "value",
    [{}, {"class_name": 3}, {"class_name": "function", "config": {"a": 1}}, {"config": {}}],
)
def test_what_names_nothing_resolves_to_nothing(value):
    assert resolve(value) is None


def _verdict(value):
    resolved = resolve(value)
    assert resolved is not None
    found = judge(resolved)
    return None if found is None else found[0]


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        ({"module": "keras.layers", "class_name": "Dense"}, None),
        ({"module": "keras.src.models.functional", "class_name": "Functional"}, None),
        ({"module": "keras.src.ops.numpy", "class_name": "Add"}, None),
        ({"module": "keras.src.applications.convnext", "class_name": "LayerScale"}, None),
        ({"module": "builtins", "class_name": "function", "config": "relu"}, None),
        ({"class_name": "BatchNormalization", "config": {}}, None),
        ({"class_name": "Custom>Adam", "config": {}}, None),  # tf-keras's optimizer
        ({"class_name": "__tuple__", "items": []}, None),
        ({"module": "keras.utils", "class_name": "FeatureSpace"}, None),
        ({"module": "os", "class_name": "function", "config": "system"}, Severity.ERROR),
        ({"module": "builtins", "class_name": "function", "config": "eval"}, Severity.ERROR),
        ({"module": "keras", "class_name": "layers.TFSMLayer"}, Severity.ERROR),
        ({"class_name": "TorchModuleWrapper", "config": {}}, Severity.ERROR),
        (
            {"module": "keras.models", "class_name": "function", "config": "load_model"},
            Severity.ERROR,
        ),
        (
            {"module": "keras.src.legacy.saving.serialization", "class_name": "function"}
            | {"config": "deserialize_keras_object"},
            Severity.ERROR,
        ),
        (
            {
                "module": "keras.src.utils.file_utils",
                "class_name": "function",
                "config": "extract_archive",
            },
            Severity.ERROR,
        ),
        (
            {
                "module": "tf_keras.src.saving.saving_api",
                "class_name": "function",
                "config": "load_model",
            },
            Severity.ERROR,
        ),
        (
            {"module": "tensorflow.io", "class_name": "function", "config": "read_file"},
            Severity.ERROR,
        ),
        ({"module": "keras.layers", "class_name": "NoSuchLayer"}, Severity.WARNING),
        ({"module": "tensorflow.keras.layers", "class_name": "Dense"}, Severity.WARNING),
        ({"module": "keras_hub.src.models.gemma", "class_name": "GemmaBackbone"}, Severity.WARNING),
        ({"module": "acme", "class_name": "Dense"}, Severity.WARNING),
        (
            {"registered_name": "acme>Backdoor", "module": "keras.layers", "class_name": "Dense"},
            Severity.WARNING,
        ),
        ({"class_name": "MyCustomLayer", "config": {}}, Severity.WARNING),
    ],
)
def test_only_model_components_keras_defines_pass(value, severity):
    assert _verdict(value) == severity


def test_the_catalog_knows_keras_and_tf_keras_by_version():
    known = catalog()
    assert known.keras.startswith("3.") and known.tf_keras.startswith("2.")
    assert "keras.utils.get_file" in known.denied
    assert known.knows(Resolved("keras.layers.Dense", "Dense", "module"))


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ({"module": "keras", "class_name": "layers.Lambda"}, "Lambda"),
        ({"module": "keras.src.layers.core.lambda_layer", "class_name": "Lambda"}, "Lambda"),
        ({"class_name": "Lambda", "config": {}}, "Lambda"),
        ({"module": "acme", "class_name": "Lambda"}, None),
        ({"module": "keras.layers", "class_name": "Lambda", "registered_name": "a>Lambda"}, None),
        ({"module": "keras.layers", "class_name": "Dense"}, None),
    ],
)
def test_a_keras_class_is_found_by_its_resolved_name(value, found):
    assert keras_class(value, frozenset({"Lambda"})) == found
