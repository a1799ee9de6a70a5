"""Turn a serialized model config into a draft layer tree (shared by both file loaders).

The draft knows, for every layer, its path, effective trainable flag, declared regularizers
and initializers, the variables Keras would create for it, the layers feeding it, and the
HDF5 group Keras 3 stores its variables under in a `.keras` file. Loaders then attach the
stored tensors and freeze the draft into the immutable `auditor.graph.model` IR.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor.graph.declared import Regularizer, UnusedRegularizer
from auditor.loaders.drafts import Config, DraftLayer, DraftWeight
from auditor.loaders.layer_specs import MODEL_CLASSES, SubSpec, VarSpec, own_vars, sublayers
from auditor.loaders.serialized import as_float, class_ref, parse_regularizer, snake_case

__all__ = ["build_tree", "layer_from_entry"]

#: Calls of one layer whose arguments are kept, at most (a shared layer is called once
#: per use; a hostile config may list millions).
_MAX_CALLS = 64


def build_tree(model: Config) -> DraftLayer:
    """Build the draft tree of a serialized model (`{"class_name", "config", ...}`)."""
    ref = class_ref(model)
    class_name, config, module, registered = ref if ref else ("?", {}, None, None)
    name = str(config.get("name") or model.get("name") or "model")
    root = DraftLayer(
        path="",
        name=name,
        class_name=class_name,
        config=config,
        config_key="config",
        group="",
        declared_trainable=_trainable(config),
        trainable=_trainable(config),
        module=module,
        registered_name=registered,
        is_model=True,
    )
    layers = _container_layers(class_name, config, model)
    if layers is None:
        root.opaque = (
            f"subclassed model {registered or class_name}: its config lists no layers, "
            "so their regularizers cannot be read"
        )
    else:
        # Keras 3 names a Sequential root's variables under the model's name
        # (`sequential/dense/kernel`), a Functional root's without it (`dense/kernel`).
        base = name if class_name == "Sequential" else ""
        _fill_container(root, class_name, layers, _layers_key("config", model), "layers", base)
    return root


def layer_from_entry(parent: DraftLayer, entry: Config, key: str, base: str) -> DraftLayer:
    """The draft of one serialized layer (`{"class_name", "config", ...}`) placed under
    `parent` at `base/<name>`, as if it were listed in `parent`'s config at `key`.

    The live front-end uses this for the sub-layers of layers whose own config is opaque.
    """
    ref = class_ref(entry)
    if ref is None:
        ref = ("?", {}, None, None)
    name = str(ref[1].get("name") or entry.get("name") or "layer")
    return _make_layer(parent, entry, ref, key, None, name, (), base)


def _trainable(config: Config) -> bool:
    value = config.get("trainable", True)
    return value if isinstance(value, bool) else True


def _container_layers(class_name: str, config: Config, entry: Config) -> list[Any] | None:
    """The layer entries of a Functional/Sequential config, or None for other classes."""
    raw = entry.get("config")
    if class_name == "Sequential" and isinstance(raw, list):  # Keras 2.0-2.1 Sequential
        return raw
    layers = config.get("layers")
    if isinstance(layers, list) and (class_name in MODEL_CLASSES or "input_layers" in config):
        return layers
    return None


def _layers_key(config_key: str, entry: Config) -> str:
    """Where a container's layer list sits: `<config>.layers`, or `<config>` itself for the
    bare list a Keras 2.0-2.1 Sequential writes."""
    return config_key if isinstance(entry.get("config"), list) else f"{config_key}.layers"


def _fill_container(
    parent: DraftLayer,
    class_name: str,
    entries: list[Any],
    key: str,
    group_prefix: str | None,
    base: str,
) -> None:
    sequential = class_name == "Sequential"
    used: dict[str, int] = {}
    previous: str | None = None
    for index, entry in enumerate(entries):
        ref = class_ref(entry)
        if ref is None:
            continue
        child_class, child_config, module, _ = ref
        if sequential and child_class == "InputLayer":
            continue
        is_op = (module or "").startswith("keras.src.ops")
        group = None
        if group_prefix is not None and not is_op:
            group = f"{group_prefix}/{_unique(snake_case(child_class), used)}"
        name = str(child_config.get("name") or entry.get("name") or f"layer_{index}")
        if sequential:
            inbound: tuple[str, ...] = (previous,) if previous else ()
        else:
            inbound = tuple(dict.fromkeys(_inbound_names(entry.get("inbound_nodes"))))
        child = _make_layer(parent, entry, ref, f"{key}[{index}]", group, name, inbound, base)
        if not sequential:
            child.call_kwargs = tuple(_call_kwargs(entry.get("inbound_nodes")))
        parent.children.append(child)
        previous = name


def _unique(base: str, used: dict[str, int]) -> str:
    """Keras's `_get_unique_name`: `dense`, `dense_1`, `dense_2`, ... per container."""
    count = used.get(base, 0)
    used[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def _inbound_names(nodes: Any) -> Iterator[str]:
    """Names of the layers feeding a Functional layer, from either serialized form."""
    stack = [nodes]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            history = _keras_history(item)
            if history is not None:
                yield history
            else:
                stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int):
                yield item[0]  # legacy [name, node_index, tensor_index, kwargs]
            else:
                stack.extend(reversed(item))


def _call_kwargs(nodes: Any) -> Iterator[Mapping[str, Any]]:
    """The keyword arguments of each call of a Functional layer: a Keras 3 node's
    `kwargs`, or the fourth item of a tf.keras 2 node's first inbound entry."""
    if not isinstance(nodes, list):
        return
    for node in nodes[:_MAX_CALLS]:
        if isinstance(node, Mapping):
            kwargs = node.get("kwargs")
        elif isinstance(node, list) and node and isinstance(node[0], list) and len(node[0]) > 3:
            kwargs = node[0][3]
        else:
            kwargs = None
        yield kwargs if isinstance(kwargs, Mapping) else {}


def _keras_history(item: Mapping[str, Any]) -> str | None:
    """The producing layer's name of a Keras 3 `__keras_tensor__` argument, else None."""
    if item.get("class_name") != "__keras_tensor__":
        return None
    config = item.get("config")
    history = config.get("keras_history") if isinstance(config, Mapping) else None
    if isinstance(history, list) and history and isinstance(history[0], str):
        return history[0]
    return None


def _make_layer(
    parent: DraftLayer,
    entry: Config,
    ref: tuple[str, Config, str | None, str | None],
    key: str,
    group: str | None,
    name: str,
    inbound: tuple[str, ...],
    base: str,
) -> DraftLayer:
    class_name, config, module, registered = ref
    declared = _trainable(config)
    layer = DraftLayer(
        path=f"{base}/{name}" if base else name,
        name=name,
        class_name=class_name,
        config=config,
        config_key=key,
        group=group,
        declared_trainable=declared,
        trainable=parent.trainable and declared,
        module=module,
        registered_name=registered,
        inbound=inbound,
    )
    _note_activity(layer, config, f"{key}.config")
    nested = _container_layers(class_name, config, entry)
    if nested is not None:
        layer.is_model = True
        prefix = f"{group}/layers" if group is not None else None
        _fill_container(
            layer, class_name, nested, _layers_key(f"{key}.config", entry), prefix, layer.path
        )
        return layer
    _fill_leaf(layer, class_name, config, f"{key}.config", None, module, registered)
    _note_unused(layer, config, f"{key}.config")
    return layer


def _fill_leaf(
    layer: DraftLayer,
    class_name: str,
    config: Config,
    config_key: str,
    variables: tuple[VarSpec, ...] | None,
    module: str | None,
    registered: str | None,
) -> None:
    """Attach a layer's own variables and owned sub-layers, or mark it opaque."""
    specs = variables if variables is not None else own_vars(class_name, config)
    subs = sublayers(class_name, config, layer.name)
    if specs is None or subs is None:
        layer.opaque = _opaque_reason(class_name, module, registered, specs is None)
        return
    for spec in specs:
        layer.weights.append(
            DraftWeight(
                spec=spec,
                path=f"{layer.path}/{spec.name}",
                layer_path=layer.path,
                trainable=layer.trainable and spec.trainable,
                regularizer_key=f"{config_key}.{spec.regularizer_key}"
                if spec.regularizer_key
                else None,
                config=config,
            )
        )
    for sub in subs:
        layer.children.append(_make_sublayer(layer, sub, config_key))


def _make_sublayer(owner: DraftLayer, sub: SubSpec, owner_key: str) -> DraftLayer:
    key = f"{owner_key}.{sub.config_key}" if sub.config_key else owner_key
    declared = _trainable(sub.config)
    child = DraftLayer(
        path=f"{owner.path}/{sub.runtime_name}",
        name=sub.runtime_name,
        class_name=sub.class_name,
        config=sub.config,
        config_key=key,
        group=f"{owner.group}/{sub.group}" if owner.group is not None else None,
        declared_trainable=declared,
        trainable=owner.trainable and declared,
    )
    _fill_leaf(child, sub.class_name, sub.config, key, sub.variables, None, None)
    if sub.config is not owner.config:  # a cell sharing its RNN's config is judged there
        _note_unused(child, sub.config, key)
    return child


def _note_activity(layer: DraftLayer, config: Config, config_key: str) -> None:
    """Record the penalty on the layer's output: `activity_regularizer`, or the `l1` and
    `l2` an `ActivityRegularization` layer turns into `L1L2(l1, l2)`."""
    if layer.class_name == "ActivityRegularization":
        layer.activity_regularizer = Regularizer(
            "L1L2",
            l1=as_float(config.get("l1"), 0.0),
            l2=as_float(config.get("l2"), 0.0),
            config=config,
        )
        layer.activity_key = config_key
        return
    value = config.get("activity_regularizer")
    if value is not None:
        layer.activity_regularizer = parse_regularizer(value)
        layer.activity_key = f"{config_key}.activity_regularizer"


def _note_unused(layer: DraftLayer, config: Config, config_key: str) -> None:
    """Record the weight regularizers `config` sets that no variable of `layer` consults
    (e.g. `kernel_regularizer` on a DepthwiseConv2D, `bias_regularizer` without a bias)."""
    if layer.opaque is not None:
        return  # what an unknown layer consults cannot be told
    consumed = {
        (id(weight.config), weight.spec.regularizer_key)
        for node in layer.walk()
        for weight in node.weights
        if weight.spec.regularizer_key
    }
    for key, value in config.items():
        if (
            isinstance(key, str)
            and key.endswith("_regularizer")
            and key != "activity_regularizer"
            and value is not None
            and (id(config), key) not in consumed
        ):
            regularizer = parse_regularizer(value)
            if regularizer is not None:
                entry = UnusedRegularizer(f"{config_key}.{key}", regularizer)
                layer.unused_regularizers.append(entry)


def _opaque_reason(
    class_name: str, module: str | None, registered: str | None, unknown_vars: bool
) -> str:
    custom = (registered is not None and ">" in registered) or (
        module is not None and not module.startswith("keras")
    )
    if custom:
        return (
            f"custom layer {registered or class_name} (module {module!r}): its weights "
            "and regularizers are not described by a known Keras class"
        )
    if unknown_vars:
        return f"layer class {class_name!r} is not known to keras-audit"
    return f"the sub-layers of {class_name!r} cannot be told from its config"
