"""Learned IQA models and the encoders they are built on.

Example:
>>> from iqa_keras.models import ENCODERS, SiameseDifferenceIQA
>>> "small" in ENCODERS
True
"""

from iqa_keras.models.encoders import ENCODERS, build_encoder
from iqa_keras.models.hallucinated_iqa import HallucinatedIQA
from iqa_keras.models.hallucination_generator import HallucinationGenerator
from iqa_keras.models.hallucination_regressor import HallucinationGuidedRegressor
from iqa_keras.models.patch_discriminator import PatchDiscriminator
from iqa_keras.models.siamese_fr import SiameseDifferenceIQA

__all__ = [
    "ENCODERS",
    "HallucinatedIQA",
    "HallucinationGenerator",
    "HallucinationGuidedRegressor",
    "PatchDiscriminator",
    "SiameseDifferenceIQA",
    "build_encoder",
]
