"""iqa-keras: image quality assessment for Keras 3 and TensorFlow.

Submodules load on first use, so `import iqa_keras` (and `iqa-keras --help`) stays fast.

Example:
>>> import iqa_keras
>>> from iqa_keras.scoring import EXAMPLE_IMAGES
>>> round(iqa_keras.score(EXAMPLE_IMAGES["distorted_blur"], reference=EXAMPLE_IMAGES["reference"],
...                       metric="ssim"), 4)
0.715
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "data", "evaluation", "export", "io", "losses", "metrics", "models", "scoring", "serving", "tiling",
    "training", "visualize",
)
_FUNCTIONS = {"score": "scoring", "load": "loading"}
__all__ = ["__version__", *_FUNCTIONS, *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"iqa_keras.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"iqa_keras.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'iqa_keras' has no attribute {name!r}")
