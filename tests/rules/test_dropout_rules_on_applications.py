"""The DRP rules on clean `keras.applications` models (weights=None): none fires. Their
dropout is MobileNet's rate 0.001 before the classifier, EfficientNet's stochastic depth
(`block*_drop`, added only when its rate is above 0) and top dropout; ResNet50 and
ConvNeXt (whose stochastic depth is its own layer) have none. EfficientNet's stochastic
depth reaches the next block's BatchNormalization through the residual Add and a
convolution: DRP001 leaves it alone because it drops whole samples
(`noise_shape=(None, 1, 1, 1)`), which the last test pins."""

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run_live

APPLICATIONS = ("MobileNet", "ResNet50", "EfficientNetB0", "ConvNeXtTiny")


@pytest.fixture(scope="module")
def applications(keras):
    return {
        name: getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3))
        for name in APPLICATIONS
    }


@pytest.mark.parametrize("name", APPLICATIONS)
def test_no_dropout_rule_fires_on_a_clean_application(applications, name):
    report = run_live(applications[name], AuditConfig(select=["DRP"]))
    assert [(f.code, f.location.layer_path) for f in report.findings] == []
    assert {r.code for r in report.models[0].rules_not_applicable} == set()


def test_the_applications_do_hold_dropout_layers(applications):
    """So that the test above judges something: the rates the rules read."""
    rates = {
        name: sorted(
            layer.rate for layer in model._flatten_layers() if type(layer).__name__ == "Dropout"
        )
        for name, model in applications.items()
    }
    assert rates["MobileNet"] == [0.001]
    assert rates["EfficientNetB0"][-1] == 0.2 and len(rates["EfficientNetB0"]) == 10
    assert rates["ResNet50"] == []


def test_efficientnet_stochastic_depth_is_what_drp001_leaves_alone(applications):
    from auditor.graph.dropout import batch_norm_after, mask_axes
    from auditor.loaders.live import load_live

    graph = load_live(applications["EfficientNetB0"]).graph
    (container,) = [node for node in graph.root.walk() if node.is_model]
    drops = [child for child in container.children if child.name.endswith("_drop")]
    assert drops and {mask_axes(drop) for drop in drops} == {"samples"}
    reached = [batch_norm_after(container, drop, 4) for drop in drops]
    assert all(found is not None for found in reached), drops
