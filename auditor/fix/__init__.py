"""Fix regularization the right way: on a live model, or in a saved file's config.

Example:
    ```python
    from auditor.fix import apply_regularization

    result = apply_regularization(model, l2=1e-4)  # depthwise, norms, biases excluded
    print(result.summary())
    ```

The live functions import keras; `fix_file` (`audit fix`) does not, and rewrites only the
regularizer entries of the file's config, leaving every weight byte as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.fix.plan import (
    CATEGORIES,
    DEFAULT_EXCLUDE,
    Change,
    FixResult,
    Skip,
    make_plan,
    target_regularizer,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_EXCLUDE",
    "Change",
    "FixResult",
    "Skip",
    "apply_regularization",
    "remove_regularization",
]


def apply_regularization(
    model: Any,
    *,
    l2: float,
    l1: float = 0.0,
    exclude: Iterable[str] = DEFAULT_EXCLUDE,
) -> FixResult:
    """Regularize a built Keras 3 model in place, keeping its weights.

    Every trainable weight outside `exclude` gets `L2(l2)` (or `L1(l1)`, `L1L2(l1, l2)`):
    the layer attribute is set (so `model.save()` keeps it) and so is the variable's
    `regularizer` (so it is in `model.losses` now). Nested models, RNN cells,
    Bidirectional layers and MultiHeadAttention projections are included; frozen weights
    are skipped and reported; regularizers set where no variable reads them are cleared.
    If `fit()` or `evaluate()` already traced the model's steps they are retraced, so the
    next `fit()` uses the new penalty without recompiling.

    Args:
        model: a built `keras.Model`.
        l2: float >= 0, the L2 coefficient (Keras's `L2`: `l2 * sum(w**2)`).
        l1: float >= 0, the L1 coefficient.
        exclude: weight categories to leave alone, from `CATEGORIES` (`kernel`,
            `depthwise`, `pointwise`, `recurrent`, `bias`, `normalization`,
            `embeddings`, `alpha`).

    Returns:
        FixResult, the settings changed and the ones left alone.

    Raises:
        TypeError, ValueError: for something that is not a built Keras 3 model, bad
            coefficients or unknown categories.
    """
    return _fix(model, target_regularizer(l2, l1), exclude)


def remove_regularization(model: Any, *, exclude: Iterable[str] = ()) -> FixResult:
    """Remove the weight regularizers of a built Keras 3 model (attribute and variable),
    except in the `exclude` categories. Weights are untouched. See `apply_regularization`.
    """
    return _fix(model, None, exclude)


def _fix(model: Any, target: Any, exclude: Iterable[str]) -> FixResult:
    from auditor.fix.live import apply_plan
    from auditor.loaders.live import load_live

    live = load_live(model)
    changes, skipped = make_plan(live.graph, target, exclude)
    return apply_plan(model, live, changes, skipped, target)
