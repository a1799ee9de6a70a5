"""keras-audit's built-in rules: one class per module, listed in `BUILTIN_RULES`.

Code families (bandit-style themed ranges; codes are never reused):

| prefix | family                                         |
|--------|------------------------------------------------|
| REG0xx | regularizer configuration                      |
| WD0xx  | optimizer weight decay                         |
| WGT0xx | the weights themselves                         |
| SEC0xx | unsafe content                                 |
| AUD0xx | the audit itself (unreadable, opaque, unmapped) |

Third-party rules register through the `keras_audit.rules` entry-point group and must use a
prefix of their own (e.g. `ACME001`).

Every rule is usable on its own:

    from auditor.loaders import open_model
    from rules import DepthwiseDecay
    from auditor.rule import RuleContext

    with open_model("model.keras") as loaded:
        rule = DepthwiseDecay()
        findings = list(rule.check(loaded.graph, RuleContext(options=rule.Options())))
"""

from rules.bias_decay import BiasDecay
from rules.dead_or_exploding_units import DeadOrExplodingUnits
from rules.decay_exclusions_unknown import DecayExclusionsUnknown
from rules.depthwise_decay import DepthwiseDecay
from rules.double_decay import DoubleDecay
from rules.exclusion_matches_nothing import ExclusionMatchesNothing
from rules.external_data_reference import ExternalDataReference
from rules.foreign_module_reference import ForeignModuleReference
from rules.frozen_regularizer import FrozenRegularizer
from rules.inconsistent_regularization import InconsistentRegularization
from rules.l2_with_adaptive_optimizer import L2WithAdaptiveOptimizer
from rules.lambda_layer import LambdaLayer
from rules.legacy_decay_is_lr_decay import LegacyDecayIsLrDecay
from rules.malformed_archive import MalformedArchive
from rules.misplaced_regularizer import MisplacedRegularizer
from rules.non_finite_weights import NonFiniteWeights
from rules.normalization_decay import NormalizationDecay
from rules.opaque_layers import OpaqueLayers
from rules.penalty_dominates import PenaltyDominates
from rules.regularizer_not_applied import RegularizerNotApplied
from rules.regularizer_not_serialized import RegularizerNotSerialized
from rules.scale_invariant_decay import ScaleInvariantDecay
from rules.stale_batchnorm_statistics import StaleBatchnormStatistics
from rules.unmapped_weights import UnmappedWeights
from rules.unreadable_model import UnreadableModel
from rules.untrained_weights import UntrainedWeights
from rules.unusual_coefficient import UnusualCoefficient
from rules.unusual_weight_decay import UnusualWeightDecay
from rules.weights_differ_from_reference import WeightsDifferFromReference

__all__ = [
    "BUILTIN_RULES",
    "BiasDecay",
    "DeadOrExplodingUnits",
    "DecayExclusionsUnknown",
    "DepthwiseDecay",
    "DoubleDecay",
    "ExclusionMatchesNothing",
    "ExternalDataReference",
    "ForeignModuleReference",
    "FrozenRegularizer",
    "InconsistentRegularization",
    "L2WithAdaptiveOptimizer",
    "LambdaLayer",
    "LegacyDecayIsLrDecay",
    "MalformedArchive",
    "MisplacedRegularizer",
    "NonFiniteWeights",
    "NormalizationDecay",
    "OpaqueLayers",
    "PenaltyDominates",
    "RegularizerNotApplied",
    "RegularizerNotSerialized",
    "ScaleInvariantDecay",
    "StaleBatchnormStatistics",
    "UnmappedWeights",
    "UnreadableModel",
    "UntrainedWeights",
    "UnusualCoefficient",
    "UnusualWeightDecay",
    "WeightsDifferFromReference",
]

BUILTIN_RULES = (
    RegularizerNotApplied,
    RegularizerNotSerialized,
    InconsistentRegularization,
    DepthwiseDecay,
    NormalizationDecay,
    BiasDecay,
    FrozenRegularizer,
    ScaleInvariantDecay,
    UnusualCoefficient,
    PenaltyDominates,
    MisplacedRegularizer,
    DoubleDecay,
    L2WithAdaptiveOptimizer,
    DecayExclusionsUnknown,
    ExclusionMatchesNothing,
    UnusualWeightDecay,
    LegacyDecayIsLrDecay,
    UntrainedWeights,
    WeightsDifferFromReference,
    NonFiniteWeights,
    DeadOrExplodingUnits,
    StaleBatchnormStatistics,
    LambdaLayer,
    ForeignModuleReference,
    ExternalDataReference,
    MalformedArchive,
    UnreadableModel,
    OpaqueLayers,
    UnmappedWeights,
)
