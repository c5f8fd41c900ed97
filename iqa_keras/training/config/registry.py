"""The names a config file may use for models, the parts of `hallucinated_iqa`, and losses.

Example:
>>> sorted(MODELS), LOSSES["plcc"].__name__
(['hallucinated_iqa', 'siamese_difference'], 'PLCCLoss')
"""

from iqa_keras.losses import (
    MeanAbsoluteError,
    MeanSquaredError,
    NormInNormLoss,
    PairwiseRankingLoss,
    PLCCLoss,
    SoftSRCCLoss,
)
from iqa_keras.models import (
    HallucinatedIQA,
    HallucinationGenerator,
    HallucinationGuidedRegressor,
    PatchDiscriminator,
    SiameseDifferenceIQA,
)

__all__ = ["MODELS", "HALLUCINATED_PARTS", "LOSSES"]

MODELS = {"siamese_difference": SiameseDifferenceIQA, "hallucinated_iqa": HallucinatedIQA}
# The parts of `hallucinated_iqa` that its `model.arguments` configure, by argument name.
HALLUCINATED_PARTS = {
    "generator": HallucinationGenerator,
    "discriminator": PatchDiscriminator,
    "regressor": HallucinationGuidedRegressor,
}
LOSSES = {
    "mae": MeanAbsoluteError,
    "mse": MeanSquaredError,
    "plcc": PLCCLoss,
    "soft_srcc": SoftSRCCLoss,
    "pairwise_ranking": PairwiseRankingLoss,
    "norm_in_norm": NormInNormLoss,
}
