"""iqa-keras: image quality assessment for Keras 3 and TensorFlow.

Example:
>>> import iqa_keras
>>> iqa_keras.__version__
'0.1.0'
"""

__version__ = "0.1.0"
