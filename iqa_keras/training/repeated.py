"""Training once per split, the field's protocol: the median over repeated random splits, or k folds.

`train_splits(config, splits)` trains one run per split of the config's data, each a
normal run of `train` in `<output_dir>/split-<i>/` (i from 1): with `split: content`,
repeats 0..splits-1 of the random split by content (`data.repeat`); with `split: kfold`,
every fold (`data.fold`). Then it writes `<output_dir>/splits.json`: each split's test
figures and, last, their median (`split: "median"`). Running it again resumes: a
finished split is read back (if its config is the one asked for), an interrupted one
resumes, the others train. `iqa-keras train CONFIG --splits N` runs it.

Example (a split has the figures of `metrics.json`'s `test`):
>>> median_row([{"split": "1", "srcc": 0.8, "plcc": 0.7}, {"split": "2", "srcc": 0.6, "plcc": 0.9}])
{'split': 'median', 'srcc': 0.7, 'plcc': 0.8}
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np

from iqa_keras.atomic import claim_output_folder, write_json_atomic
from iqa_keras.training.config import ConfigError, TrainingConfig, config_to_dict, load_config
from iqa_keras.training.fit import CONFIG_FILE, METRICS_FILE, train

__all__ = ["SPLITS_REPORT", "median_row", "train_splits"]

SPLITS_REPORT = "splits.json"


def train_splits(config: TrainingConfig, splits: int, callbacks=None) -> list[dict]:
    """Trains one run per split (see the module docstring); returns the rows of `splits.json`.

    Raises:
        ConfigError: the official split (one split only), `splits` below 1, `splits` other
            than `data.folds` with `split: kfold`, or a finished split trained with another config.
    """
    data = config.data
    if data.split == "official":
        raise ConfigError("data.split", "is 'official', a single split: training per split needs content or kfold")
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ConfigError("splits", f"must be a positive integer. Received: {splits!r}")
    if data.split == "kfold" and splits != data.folds:
        raise ConfigError("splits", f"must equal data.folds ({data.folds}) with split: kfold. Received: {splits}")
    claim_output_folder(config.output_dir, "output_dir")
    rows = []
    for index in range(splits):
        chosen = {"fold": index} if data.split == "kfold" else {"repeat": index}
        run = dataclasses.replace(config, output_dir=os.path.join(config.output_dir, f"split-{index + 1:02d}"),
                                  data=dataclasses.replace(data, **chosen))
        metrics = _finished_metrics(run) or train(run, callbacks=callbacks).metrics
        rows.append({"split": str(index + 1), **metrics["test"]})
    rows.append(median_row(rows))
    write_json_atomic(os.path.join(config.output_dir, SPLITS_REPORT), rows)
    return rows


def median_row(rows: Sequence[dict]) -> dict:
    """The median of each figure over `rows` (the `n` and `split` columns aside)."""
    keys = [key for key in rows[0] if key not in ("split", "n")]
    return {"split": "median", **{key: float(np.median([row[key] for row in rows])) for key in keys}}


def _finished_metrics(run: TrainingConfig) -> dict | None:
    """A finished split's metrics, or None to train it (missing, or interrupted: `train` resumes)."""
    metrics_path = os.path.join(run.output_dir, METRICS_FILE)
    if not os.path.isfile(metrics_path):
        return None
    finished = {**config_to_dict(load_config(os.path.join(run.output_dir, CONFIG_FILE))), "output_dir": None}
    if finished != {**config_to_dict(run), "output_dir": None}:
        raise ConfigError("output_dir", f"{run.output_dir} holds a finished split trained with another config: "
                                        "use another output_dir")
    with open(metrics_path, encoding="utf-8") as file:
        return json.load(file)
