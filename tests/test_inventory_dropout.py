"""The inventory's dropout entries: every dropout or noise layer with its rate (or
stddev), how its mask is drawn, the layer before it, the batch normalization its output
reaches and whether it is active at inference; the same from `.keras`, legacy `.h5` and a
live model."""

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run, run_live
from auditor.results.findings import InventoryDropout
from tests.conftest import FORMATS
from tests.harness import functional


def _body(L, x):
    x = L.Conv2D(4, 3, padding="same", name="conv")(x)
    x = L.SpatialDropout2D(0.1, name="spatial")(x)
    x = L.Dropout(0.2, noise_shape=(None, 1, 1, 1), name="depth")(x)
    x = L.Conv2D(4, 1, name="expand")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.GaussianNoise(0.05, name="noise")(L.Flatten(name="flat")(x), training=True)
    return L.Dense(2, name="out")(x)


EXPECTED = {
    "spatial": InventoryDropout(rate=0.1, mask="shared", after="conv", normalization="bn"),
    "depth": InventoryDropout(rate=0.2, mask="samples", after="spatial", normalization="bn"),
    "noise": InventoryDropout(stddev=0.05, after="flat", at_inference=True),
}


@pytest.fixture(scope="module")
def model(keras):
    return functional(keras, "inventory_dropout", (6, 6, 3), _body)


@pytest.fixture(scope="module")
def saved(model, save_model):
    return save_model(model, "inventory_dropout")


def _dropout(report):
    return {layer.path: layer.dropout for layer in report.models[0].inventory if layer.dropout}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_dropout_layer_is_listed_with_its_place(saved, fmt):
    assert _dropout(run([saved[fmt]], AuditConfig())) == EXPECTED


def test_a_live_model_lists_the_same(model):
    assert _dropout(run_live(model, AuditConfig())) == EXPECTED
