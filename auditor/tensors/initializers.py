"""The exact distribution a weight was drawn from at initialization (no keras needed).

`reference_for()` turns a weight's declared initializer into a `Reference`: a constant, a
uniform, a (truncated) normal, an orthogonal matrix, or the LSTM bias pattern, with the
fans computed as the Keras version that wrote the model computes them (`compute_fans` and
`VarianceScaling` in `keras/src/initializers/random_initializers.py`, pinned against Keras
itself by tests/test_initializers.py). `auditor.tensors.stats` measures a tensor against
it in the same single read; `auditor.tensors.verdict.judge` weighs the evidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from auditor.graph.model import LayerNode, Role, WeightRef
from auditor.numbers import number

if TYPE_CHECKING:
    import numpy as np


__all__ = ["Kind", "Reference", "normal_cdf", "reference_for"]

# Post-truncation std of a standard normal truncated to +-2 (Keras's correction constant).
TRUNCATED_STD = 0.87962566103423978
_MHA_PROJECTIONS = frozenset({"query", "key", "value"})


class Kind(StrEnum):
    """The shape of an initial distribution."""

    CONSTANT = "constant"
    PATTERN = "pattern"  # per-position constants (LSTM's unit_forget_bias)
    UNIFORM = "uniform"
    TRUNCATED_NORMAL = "truncated_normal"
    NORMAL = "normal"
    ORTHOGONAL = "orthogonal"


@dataclass(frozen=True, slots=True)
class Reference:
    """An initial distribution.

    Attributes:
        kind: Kind.
        name: str, the initializer as people know it (`GlorotUniform`).
        description: str, the exact law (`U(-0.125, 0.125), fans (256, 128)`).
        value: float, the constant (CONSTANT).
        low, high: floats, the support (UNIFORM); `mean +- bound` (TRUNCATED_NORMAL).
        mean, std: floats, the law's moments (after truncation).
        sigma: float, the normal's scale parameter (before truncation).
        gain: float, the orthogonal matrix's gain.
        segments: ((start, stop, value), ...) of a PATTERN along the flat tensor.
    """

    kind: Kind
    name: str
    description: str
    value: float = 0.0
    low: float = -math.inf
    high: float = math.inf
    mean: float = 0.0
    std: float = 0.0
    sigma: float = 0.0
    gain: float = 1.0
    segments: tuple[tuple[int, int, float], ...] = ()

    @property
    def bounded(self) -> bool:
        """True when no initial value can lie outside `[low, high]`."""
        return self.kind in (Kind.UNIFORM, Kind.TRUNCATED_NORMAL)

    @property
    def exact(self) -> bool:
        """True for constants and patterns: any other value proves the tensor moved."""
        return self.kind in (Kind.CONSTANT, Kind.PATTERN)

    def expected(self, offset: int, size: int) -> np.ndarray | float:
        """The exact values of a PATTERN at flat positions `offset .. offset+size`, or the
        CONSTANT."""
        if self.kind is Kind.CONSTANT:
            return self.value
        import numpy as np  # numerical code imports numpy on use: `audit rules` needs none

        out = np.zeros(size, dtype=np.float64)
        for start, stop, value in self.segments:
            lo, hi = max(start, offset), min(stop, offset + size)
            if lo < hi:
                out[lo - offset : hi - offset] = value
        return out

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The law's cumulative distribution function (UNIFORM and the normals)."""
        import numpy as np

        if self.kind is Kind.UNIFORM:
            return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)
        z = (x - self.mean) / self.sigma
        if self.kind is Kind.NORMAL:
            return normal_cdf(z)
        edge = (self.high - self.mean) / self.sigma
        low, high = _phi(-edge), _phi(edge)
        return np.clip((normal_cdf(np.clip(z, -edge, edge)) - low) / (high - low), 0.0, 1.0)

    @property
    def excess_kurtosis(self) -> float:
        """Of the law: -1.2 uniform, 0 normal, -0.6345 for the normal truncated at 2 sigma."""
        return {Kind.UNIFORM: -1.2, Kind.NORMAL: 0.0, Kind.TRUNCATED_NORMAL: -0.6345}.get(
            self.kind, 0.0
        )


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Phi(z), vectorized (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7)."""
    import numpy as np

    x = np.abs(np.asarray(z, dtype=np.float64)) / math.sqrt(2.0)
    erf = 1.0 - _erf_tail(x) * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def _phi(z: float) -> float:
    """`normal_cdf` of one number, the same formula in plain floats (a NumPy call on a
    scalar costs tens of microseconds, and every truncated-normal tensor needs two)."""
    x = abs(z) / math.sqrt(2.0)
    erf = 1.0 - _erf_tail(x) * math.exp(-x * x)
    return 0.5 * (1.0 + math.copysign(erf, z)) if z else 0.5


def _erf_tail(x: Any) -> Any:
    """The polynomial of A&S 7.1.26 (floats or arrays): erf(x) = 1 - poly * exp(-x^2)."""
    t = 1.0 / (1.0 + 0.3275911 * x)
    return t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )


# Lower-cased class names and string shortcuts -> (scale, mode, distribution).
_VARIANCE_SCALING = {
    "glorotuniform": (1.0, "fan_avg", "uniform"),
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorotnormal": (1.0, "fan_avg", "truncated_normal"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "heuniform": (2.0, "fan_in", "uniform"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "henormal": (2.0, "fan_in", "truncated_normal"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecununiform": (1.0, "fan_in", "uniform"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecunnormal": (1.0, "fan_in", "truncated_normal"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}
_CONSTANTS = {"zeros": 0.0, "zero": 0.0, "ones": 1.0, "one": 1.0}


def reference_for(
    weight: WeightRef, layer: LayerNode, keras_version: str | None
) -> Reference | None:
    """The initial distribution of `weight`, or None when it cannot be known exactly.

    Args:
        weight: WeightRef, with its declared initializer and shape.
        layer: LayerNode, the weight's layer (its class and config decide fans and the LSTM
            bias pattern).
        keras_version: str | None, of the writer: Keras >= 3.15 computes EinsumDense and
            MultiHeadAttention fans from the einsum equation.
    """
    init, shape = weight.initializer, weight.shape
    if init is None or shape is None:
        return None
    name = init.class_name.rsplit(">", 1)[-1].rsplit(".", 1)[-1]
    lowered = name.lower()
    config: Mapping[str, Any] = init.config
    if lowered in _CONSTANTS or lowered == "constant":
        value = _CONSTANTS.get(lowered, _number(config.get("value"), math.nan))
        if not math.isfinite(value):
            return None
        if weight.role is Role.BIAS and _unit_forget_bias(layer, shape):
            units = shape[-1] // 4
            segments = ((0, units, value), (units, 2 * units, 1.0), (2 * units, 4 * units, value))
            return Reference(
                Kind.PATTERN, name, f"{number(value)}, forget-gate slice 1", segments=segments
            )
        return Reference(Kind.CONSTANT, name, number(value), value=value, mean=value)
    if lowered in ("randomuniform", "uniform", "random_uniform"):
        low = _number(config.get("minval"), -0.05)
        high = _number(config.get("maxval"), 0.05)
        return _uniform(name, low, high, "")
    if lowered in ("randomnormal", "normal", "random_normal"):
        mean = _number(config.get("mean"), 0.0)
        return _normal(name, mean, _number(config.get("stddev"), 0.05), "")
    if lowered in ("truncatednormal", "truncated_normal"):
        mean = _number(config.get("mean"), 0.0)
        sigma = _number(config.get("stddev"), 0.05)
        return _truncated(name, mean, sigma, "")
    if lowered == "orthogonal":
        gain = _number(config.get("gain"), 1.0)
        if not math.isfinite(gain) or gain == 0:
            return None  # a zero matrix, or no law at all
        rows, cols = math.prod(shape[:-1]) if len(shape) > 1 else 1, shape[-1] if shape else 1
        std = abs(gain) / math.sqrt(max(rows, cols, 1))
        return Reference(
            Kind.ORTHOGONAL, name, f"orthogonal, gain {number(gain)}", gain=gain, std=std, sigma=std
        )
    if lowered in _VARIANCE_SCALING or lowered == "variancescaling":
        scale, mode, distribution = _VARIANCE_SCALING.get(
            lowered,
            (
                _number(config.get("scale"), 1.0),
                str(config.get("mode", "fan_in")),
                str(config.get("distribution", "truncated_normal")),
            ),
        )
        if not (math.isfinite(scale) and scale > 0):
            return None  # Keras refuses such a scale: the file never held this law
        fan_in, fan_out = _fans(weight, layer, keras_version)
        denominator = {"fan_in": fan_in, "fan_out": fan_out}.get(mode, (fan_in + fan_out) / 2)
        variance = scale / max(1.0, denominator)
        fans = f"fans ({fan_in:.0f}, {fan_out:.0f})"
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return _uniform(name, -limit, limit, fans)
        if distribution == "untruncated_normal":
            return _normal(name, 0.0, math.sqrt(variance), fans)
        # "truncated_normal", and Keras 2's "normal" (truncated since Keras 2.2.3).
        return _truncated(name, 0.0, math.sqrt(variance) / TRUNCATED_STD, fans)
    return None


def _uniform(name: str, low: float, high: float, fans: str) -> Reference | None:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return None
    text = f"U({number(low)}, {number(high)})" + (f", {fans}" if fans else "")
    return Reference(
        Kind.UNIFORM,
        name,
        text,
        low=low,
        high=high,
        mean=(low + high) / 2,
        std=(high - low) / math.sqrt(12.0),
    )


def _normal(name: str, mean: float, sigma: float, fans: str) -> Reference | None:
    if not (math.isfinite(mean) and math.isfinite(sigma)) or sigma <= 0:
        return None
    text = f"N({number(mean)}, {number(sigma)})" + (f", {fans}" if fans else "")
    return Reference(Kind.NORMAL, name, text, mean=mean, std=sigma, sigma=sigma)


def _truncated(name: str, mean: float, sigma: float, fans: str) -> Reference | None:
    if not (math.isfinite(mean) and math.isfinite(sigma)) or sigma <= 0:
        return None
    text = f"N({number(mean)}, {number(sigma)}) truncated at 2 sigma" + (
        f", {fans}" if fans else ""
    )
    return Reference(
        Kind.TRUNCATED_NORMAL,
        name,
        text,
        low=mean - 2 * sigma,
        high=mean + 2 * sigma,
        mean=mean,
        std=sigma * TRUNCATED_STD,
        sigma=sigma,
    )


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def _unit_forget_bias(layer: LayerNode, shape: tuple[int, ...]) -> bool:
    """An LSTM cell's bias starts with ones on the forget gate (`unit_forget_bias=True`)."""
    is_lstm = layer.class_name in ("LSTMCell", "ConvLSTMCell") or layer.name.endswith("lstm_cell")
    return (
        is_lstm
        and bool(layer.config.get("unit_forget_bias", True))
        and len(shape) == 1
        and shape[0] % 4 == 0
    )


def _fans(weight: WeightRef, layer: LayerNode, keras_version: str | None) -> tuple[float, float]:
    """(fan_in, fan_out) as the writing Keras version computes them."""
    shape = weight.shape or ()
    if _at_least(keras_version, (3, 15)) and layer.class_name == "EinsumDense":
        fans = _einsum_fans(layer, shape)
        if fans is not None:
            return fans
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _einsum_fans(layer: LayerNode, shape: tuple[int, ...]) -> tuple[float, float] | None:
    """Keras >= 3.15: fans over the kernel axes shared with the input / the output."""
    if layer.name in _MHA_PROJECTIONS and "num_heads" in layer.config and len(shape) >= 2:
        return float(shape[0]), float(math.prod(shape[1:]))
    if layer.name == "attention_output" and "num_heads" in layer.config and len(shape) >= 2:
        return float(math.prod(shape[:-1])), float(shape[-1])
    equation = layer.config.get("equation")
    match = re.fullmatch(r"\s*(\w+)\s*,\s*(\w+)\s*->\s*(\w+)\s*", str(equation or ""))
    if match is None or len(match.group(2)) != len(shape):
        return None
    inputs, kernel, output = match.groups()
    fan_in = math.prod(d for axis, d in zip(kernel, shape, strict=True) if axis in inputs)
    fan_out = math.prod(d for axis, d in zip(kernel, shape, strict=True) if axis in output)
    return float(fan_in), float(fan_out)


def _at_least(version: str | None, wanted: tuple[int, int]) -> bool:
    if not version:
        return False
    parts = re.findall(r"\d+", version)[:2]
    return len(parts) == 2 and (int(parts[0]), int(parts[1])) >= wanted
