"""keras-audit's built-in rules, one class per module, and the base every rule derives from.

Code families (bandit-style themed ranges; codes are never reused):

| prefix | family                                          |
|--------|-------------------------------------------------|
| REG0xx | regularizer configuration                       |
| WD0xx  | optimizer weight decay                          |
| WGT0xx | the weights themselves                          |
| SEC0xx | unsafe content                                  |
| AUD0xx | the audit itself (unreadable, opaque, unmapped) |

Third-party rules derive from `Rule`, register through the `keras_audit.rules` entry-point
group and use a prefix of their own (e.g. `ACME001`).

Every rule is usable on its own:

    from auditor.loaders import open_model
    from auditor.rules import DepthwiseDecay, RuleContext

    with open_model("model.keras") as loaded:
        rule = DepthwiseDecay()
        findings = list(rule.check(loaded.graph, RuleContext(options=rule.Options())))
"""

from auditor.rules.base import Rule, RuleContext, RuleOptions
from auditor.rules.bias_decay import BiasDecay
from auditor.rules.dead_or_exploding_units import DeadOrExplodingUnits
from auditor.rules.decay_exclusions_unknown import DecayExclusionsUnknown
from auditor.rules.depthwise_decay import DepthwiseDecay
from auditor.rules.double_decay import DoubleDecay
from auditor.rules.dropout_after_output import DropoutAfterOutput
from auditor.rules.dropout_at_inference import DropoutAtInference
from auditor.rules.dropout_before_normalization import DropoutBeforeNormalization
from auditor.rules.elementwise_dropout_on_feature_maps import ElementwiseDropoutOnFeatureMaps
from auditor.rules.exclusion_matches_nothing import ExclusionMatchesNothing
from auditor.rules.external_data_reference import ExternalDataReference
from auditor.rules.foreign_module_reference import ForeignModuleReference
from auditor.rules.frozen_regularizer import FrozenRegularizer
from auditor.rules.inconsistent_regularization import InconsistentRegularization
from auditor.rules.inert_activity_regularizer import InertActivityRegularizer
from auditor.rules.l2_with_adaptive_optimizer import L2WithAdaptiveOptimizer
from auditor.rules.lambda_layer import LambdaLayer
from auditor.rules.legacy_decay_is_lr_decay import LegacyDecayIsLrDecay
from auditor.rules.loss_added_outside_call import LossAddedOutsideCall
from auditor.rules.malformed_archive import MalformedArchive
from auditor.rules.misplaced_regularizer import MisplacedRegularizer
from auditor.rules.non_finite_weights import NonFiniteWeights
from auditor.rules.normalization_decay import NormalizationDecay
from auditor.rules.opaque_layers import OpaqueLayers
from auditor.rules.penalty_dominates import PenaltyDominates
from auditor.rules.recurrent_dropout_slow_path import RecurrentDropoutSlowPath
from auditor.rules.regularizer_dropped_by_version import RegularizerDroppedByVersion
from auditor.rules.regularizer_not_applied import RegularizerNotApplied
from auditor.rules.regularizer_not_serialized import RegularizerNotSerialized
from auditor.rules.scale_invariant_decay import ScaleInvariantDecay
from auditor.rules.selu_without_alpha_dropout import SeluWithoutAlphaDropout
from auditor.rules.stale_batchnorm_statistics import StaleBatchnormStatistics
from auditor.rules.unmapped_weights import UnmappedWeights
from auditor.rules.unreadable_model import UnreadableModel
from auditor.rules.unsafe_graph_op import UnsafeGraphOp
from auditor.rules.untrained_weights import UntrainedWeights
from auditor.rules.unusual_coefficient import UnusualCoefficient
from auditor.rules.unusual_dropout_rate import UnusualDropoutRate
from auditor.rules.unusual_weight_decay import UnusualWeightDecay
from auditor.rules.weights_differ_from_reference import WeightsDifferFromReference

#: The built-in rules, in catalog order.
BUILTIN_RULES: tuple[type[Rule], ...] = (
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
    LossAddedOutsideCall,
    InertActivityRegularizer,
    RegularizerDroppedByVersion,
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
    DropoutBeforeNormalization,
    ElementwiseDropoutOnFeatureMaps,
    UnusualDropoutRate,
    DropoutAfterOutput,
    SeluWithoutAlphaDropout,
    DropoutAtInference,
    RecurrentDropoutSlowPath,
    LambdaLayer,
    ForeignModuleReference,
    ExternalDataReference,
    MalformedArchive,
    UnsafeGraphOp,
    UnreadableModel,
    OpaqueLayers,
    UnmappedWeights,
)

__all__ = ["BUILTIN_RULES", "Rule", "RuleContext", "RuleOptions"]
__all__ += [rule.__name__ for rule in BUILTIN_RULES]
