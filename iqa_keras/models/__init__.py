"""Learned IQA models and the encoders they are built on.

Example:
>>> from iqa_keras.models import ENCODERS, SiameseDifferenceIQA
>>> "small" in ENCODERS
True
"""

from iqa_keras.models.encoders import ENCODERS, build_encoder
from iqa_keras.models.siamese_fr import SiameseDifferenceIQA

__all__ = ["ENCODERS", "SiameseDifferenceIQA", "build_encoder"]
