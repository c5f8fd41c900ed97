"""Datasets: readers for the standard IQA databases, splits by content, the tf.data
pipeline and synthetic distortions.

`read_dataset(name, root)` takes the folder of a database as its authors ship it and
returns a list of `Record`s, after checking that every image it names exists.

Example:
>>> sorted(DATASETS)[:3]
['csiq', 'csv', 'kadid10k']
"""

from __future__ import annotations

import importlib
import inspect
import os

from iqa_keras.data.pipeline_config import PipelineConfig
from iqa_keras.data.records import DatasetError, Record, Scale, check_files
from iqa_keras.data.splits import k_fold_by_content, official_split, split_by_content

__all__ = [
    "DATASETS",
    "read_dataset",
    "reader_options",
    "Record",
    "Scale",
    "DatasetError",
    "check_files",
    "split_by_content",
    "k_fold_by_content",
    "official_split",
    "PipelineConfig",
    "SkippedImages",
    "PassCounter",
    "training_dataset",
    "evaluation_dataset",
]

# The tf.data pipeline loads on first use, so readers, splits and the synthetic
# distortions work without TensorFlow (on the JAX backend, for instance).
_PIPELINE = ("SkippedImages", "PassCounter", "evaluation_dataset", "training_dataset")


def __getattr__(name):
    if name in _PIPELINE:
        return getattr(importlib.import_module("iqa_keras.data.pipeline"), name)
    raise AttributeError(f"module 'iqa_keras.data' has no attribute {name!r}")


# Dataset name -> (reader module under iqa_keras.data.readers, function in it).
DATASETS = {
    "kadid10k": ("kadid10k", "read_kadid10k"),
    "tid2013": ("tid", "read_tid2013"),
    "tid2008": ("tid", "read_tid2008"),
    "live": ("live", "read_live"),
    "csiq": ("csiq", "read_csiq"),
    "koniq10k": ("koniq10k", "read_koniq10k"),
    "livec": ("livec", "read_livec"),
    "pipal": ("pipal", "read_pipal"),
    "spaq": ("spaq", "read_spaq"),
    "csv": ("csv_list", "read_csv"),
}


def read_dataset(name: str, root: str | os.PathLike, check: bool = True, **options) -> list[Record]:
    """Reads a database from its original release folder (or a CSV file for `csv`).

    Args:
        name: one of `DATASETS`.
        root: the release folder as its authors ship it; for `csv`, the CSV file.
        check: verify that every image file exists (raises `DatasetError` listing them).
        **options: the reader's own options (`reader_options(name)`), e.g.
            `resolution="1024x768"` for `koniq10k`.
    """
    reader = _reader(name)
    known = _options_of(reader)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"The {name} reader has no option {unknown[0]!r}; its options: {', '.join(known) or 'none'}."
        )
    records = reader(os.fspath(root), **options)
    if not records:
        raise DatasetError(f"{os.fspath(root)}: the {name} labels list no images (a header alone?).")
    if check:
        check_files(records, dataset=name)
    return records


def reader_options(name: str) -> tuple[str, ...]:
    """The options that `read_dataset(name, root, **options)` passes to the reader.

    Example:
    >>> reader_options("koniq10k"), reader_options("csv"), reader_options("live")
    (('resolution',), ('higher_is_better', 'scale'), ())
    """
    return _options_of(_reader(name))


def _options_of(reader) -> tuple[str, ...]:
    return tuple(inspect.signature(reader).parameters)[1:]  # all but the root


def _reader(name: str):
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Expected one of: {', '.join(sorted(DATASETS))}")
    module_name, function_name = DATASETS[name]
    return getattr(importlib.import_module(f"iqa_keras.data.readers.{module_name}"), function_name)
