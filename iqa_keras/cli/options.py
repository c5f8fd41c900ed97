"""What several commands share: their options, argparse value types, the images named on
the command line, and the progress bar.

Example:
>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_format(parser)
>>> parser.parse_args(["--format", "csv"]).format
'csv'
"""

from __future__ import annotations

import argparse
import math
import sys

__all__ = ["add_format", "add_tile_size", "add_no_progress", "tile_side", "opacity", "image_pairs", "progress"]


def add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", "-f", choices=("table", "csv", "json", "jsonl"), default="table",
        help="output format (jsonl: one JSON object per line); default: table",
    )


def add_tile_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tile-size", type=tile_side, metavar="PIXELS",
        help="learned models: score images of more than PIXELS squared pixels in tiles of this side "
             "(memory bounded by the tile; a training config's data.evaluation.tile_size); default: 1024",
    )


def add_no_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def tile_side(text: str) -> int:
    """argparse type: an integer of at least 32 (the tiles' alignment)."""
    if not text.strip().isdigit() or int(text) < 32:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 32, not {text!r}")
    return int(text)


def opacity(text: str) -> float:
    """argparse type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text!r}")
    return value


def image_pairs(distorted_names, reference=None, pair_list=None, shard=None):
    """(reference or None, distorted) pairs from named images (files, folders, globs) and a
    CSV list, and an `InputError` for each image a reference folder has no reference for;
    with `shard` (index, count), the pairs of that part only."""
    from iqa_keras import inputs, scoring

    def in_part(path):
        return shard is None or inputs.in_shard(path, *shard)

    pairs = [pair for pair in scoring.read_pair_list(pair_list) if in_part(pair[1])] if pair_list else []
    unmatched = []
    if distorted_names:
        distorted = [path for path in inputs.expand_images(distorted_names) if in_part(path)]
        if reference is None:
            pairs += [(None, path) for path in distorted]
        else:
            pairs += inputs.match_pairs(reference, distorted, unmatched)
    return pairs, unmatched


def progress(iterable, total: int, arguments):
    """Wraps `iterable` in a progress bar on stderr when there are several files and a terminal."""
    if arguments.no_progress or total < 2 or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, unit="image", file=sys.stderr)
