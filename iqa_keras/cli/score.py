"""`iqa-keras score`, and the listings of what it scores with: `metrics` and `models`.

Example:
>>> import argparse
>>> commands = argparse.ArgumentParser(prog="iqa-keras").add_subparsers()
>>> register(commands)
>>> sorted(commands.choices)
['metrics', 'models', 'score']
"""

from __future__ import annotations

import argparse
import os
import sys

from iqa_keras.cli.errors import EXIT_FAILED_INPUT, EXIT_OK, UsageError
from iqa_keras.cli.options import add_format, add_no_progress, add_tile_size, image_pairs, progress
from iqa_keras.results import write_rows

__all__ = ["register"]

_SCORE_COLUMNS = ("distorted", "reference", "metric", "score")

_SCORE_EXAMPLES = """examples:
  iqa-keras score --reference iqa_keras/examples/reference.png iqa_keras/examples/distorted_jpeg.png
  iqa-keras score iqa_keras/examples/distorted_blur.png             (no reference: nr-default)
  iqa-keras score --metric ssim --reference iqa_keras/examples/reference.png iqa_keras/examples/distorted_jpeg.png
  iqa-keras score --model my_model.keras --reference ref.png dist.png
  iqa-keras score --metric psnr --reference refs/ dists/ --format csv     (pairs matched by file name)
  iqa-keras score --metric ms_ssim --reference ref.png "dists/*.jpg" --format json
  iqa-keras score --metric psnr --list pairs.csv            (columns: reference,distorted)
  iqa-keras score photos/ --format csv --output scores.csv  (never replaces a file without --overwrite)
"""


def register(commands) -> None:
    """Adds `score`, `metrics` and `models` to the command's subparsers."""
    score = commands.add_parser(
        "score",
        help="score distorted images against their references",
        description="Score distorted images. Each DISTORTED may be a file, a folder or a glob pattern.",
        epilog=_SCORE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("distorted", nargs="*", metavar="DISTORTED", help="images to score")
    score.add_argument(
        "--shard", metavar="I/N",
        help="score only part I (from 0) of N disjoint parts of the inputs, by a checksum of each "
             "image's path: N workers with I = 0..N-1 score every image once",
    )
    score.add_argument(
        "--list", metavar="CSV", dest="pair_list",
        help="a CSV of the images to score: a distorted column and an optional reference column",
    )
    score.add_argument(
        "--reference", "-r", metavar="REF",
        help="the reference image, or a folder of references matched to DISTORTED by file name "
        "(needed by classic metrics and full-reference models)",
    )
    measure = score.add_mutually_exclusive_group()
    measure.add_argument(
        "--metric", "-m", metavar="NAME",
        help="classic metric (see 'iqa-keras metrics'); default: the bundled model",
    )
    measure.add_argument(
        "--model", metavar="PATH",
        help="a learned model: a .keras file or a bundled name; default: fr-default with --reference, "
        "nr-default without",
    )
    score.add_argument("--color", choices=("rgb", "y", "gray"), help="colour handling; default: the metric's own")
    add_format(score)
    add_tile_size(score)
    score.add_argument("--output", "-o", metavar="FILE",
                       help="write the result to FILE (atomically, in --format) instead of the terminal")
    score.add_argument("--overwrite", action="store_true", help="let --output replace an existing FILE")
    score.add_argument(
        "--resume", action="store_true",
        help="append each row to --output (csv or jsonl) as it is scored, skipping the images it already "
             "holds: a killed job run again loses and repeats no row",
    )
    add_no_progress(score)
    score.set_defaults(run=_run_score)

    listing = commands.add_parser(
        "metrics",
        help="list the classic metrics with their direction and range",
        description="List the classic metrics with their direction (higher or lower is better) and range.",
        epilog="example:\n  iqa-keras metrics --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_format(listing)
    listing.set_defaults(run=_run_metrics)

    models = commands.add_parser(
        "models",
        help="list the bundled models with their model cards",
        description="List the models bundled in saved_models/, with the first lines of their model cards.",
        epilog="example:\n  iqa-keras models",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    models.set_defaults(run=_run_models)


def _run_score(arguments) -> int:
    from iqa_keras import inputs, scoring

    if not arguments.distorted and arguments.pair_list is None:
        raise UsageError("name images to score, or give --list CSV")
    if arguments.reference is not None and not arguments.distorted:
        raise UsageError("--reference pairs the images named on the command line; a --list gives its "
                         "references in a `reference` column")
    shard = inputs.parse_shard(arguments.shard) if arguments.shard is not None else None
    _check_output(arguments)
    pairs, unmatched = image_pairs(arguments.distorted, arguments.reference, arguments.pair_list, shard)
    if shard is not None and not pairs and not unmatched:  # nothing of the input falls into this part
        return _write_scores([], arguments)
    for error in unmatched:
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
    if not pairs:
        return EXIT_FAILED_INPUT
    if arguments.metric is None and arguments.model is None:
        arguments.model = scoring.default_model(any(reference is not None for reference, _ in pairs))
    function, needs_reference, name = scoring.measure(
        arguments.metric, arguments.model, arguments.color, arguments.tile_size
    )
    if needs_reference and any(reference is None for reference, _ in pairs):
        raise UsageError(f"{name} is full-reference: give --reference")
    if not needs_reference and any(reference is not None for reference, _ in pairs):
        raise UsageError(f"{name} is no-reference: it would ignore the references; drop --reference (or the "
                         "list's reference column)")
    appended = None
    if arguments.resume:
        from iqa_keras.results import AppendedRows

        try:
            appended = AppendedRows(arguments.output, arguments.format, _SCORE_COLUMNS)
        except (ValueError, OSError) as error:
            raise UsageError(f"--output: {error}") from error
        pairs = [(reference, path) for reference, path in pairs if (reference or "", path) not in appended.done]
    rows = []
    failed = bool(unmatched)
    try:
        for result in progress(scoring.score_files(pairs, function, name), len(pairs), arguments):
            if result.error is not None:
                failed = True
                print(f"iqa-keras score: error: {result.error}", file=sys.stderr)
                continue
            row = {"distorted": result.distorted, "reference": result.reference, "score": result.score,
                   "metric": result.measure}
            if appended is None:
                rows.append(row)
            else:
                appended.append(row)
    finally:
        if appended is not None:
            appended.close()
    code = EXIT_OK if appended is not None else _write_scores(rows, arguments)
    return EXIT_FAILED_INPUT if failed else code


def _check_output(arguments) -> None:
    """Refuses, before any scoring, an --output that exists (without --overwrite or --resume)
    or cannot be written."""
    from iqa_keras.results import APPENDABLE_FORMATS

    if arguments.output is None:
        for flag in ("overwrite", "resume"):
            if getattr(arguments, flag):
                raise ValueError(f"--{flag} applies to --output FILE")
        return
    if arguments.resume and arguments.overwrite:
        raise ValueError("--resume appends to --output; --overwrite replaces it: give one of them")
    if arguments.resume and arguments.format not in APPENDABLE_FORMATS:
        raise ValueError(f"--resume appends rows to a {' or '.join(APPENDABLE_FORMATS)} file: give --format csv "
                         "or --format jsonl")
    if os.path.isdir(arguments.output):
        raise ValueError(f"--output {arguments.output} is a folder; name a file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(arguments.output))):
        raise ValueError(f"--output {arguments.output}: its folder does not exist")
    if os.path.exists(arguments.output) and not (arguments.overwrite or arguments.resume):
        raise FileExistsError(f"--output {arguments.output} exists: give --overwrite to replace it, or --resume "
                              "to append what it lacks")


def _write_scores(rows: list[dict], arguments) -> int:
    """Prints the rows, or writes them atomically to --output (never over a file that
    appeared meanwhile, without --overwrite)."""
    if arguments.output is None:
        write_rows(rows, arguments.format, _SCORE_COLUMNS)
        return EXIT_OK
    if arguments.resume:  # nothing to score in this part: the file exists, with its header
        from iqa_keras.results import AppendedRows

        AppendedRows(arguments.output, arguments.format, _SCORE_COLUMNS).close()
        return EXIT_OK
    import io

    from iqa_keras.atomic import write_atomic

    text = io.StringIO()
    write_rows(rows, arguments.format, _SCORE_COLUMNS, stream=text)
    try:
        write_atomic(arguments.output, lambda file: file.write(text.getvalue().encode()), replace=arguments.overwrite)
    except FileExistsError as error:
        raise UsageError(f"--output {arguments.output} appeared while scoring; nothing replaced it (give "
                         "--overwrite to replace it)") from error
    return EXIT_OK



def _run_metrics(arguments) -> int:
    from iqa_keras import metrics

    rows = [
        {
            "name": info.name,
            "higher_is_better": info.higher_is_better,
            "best": info.best_value,
            "low": info.value_range[0],
            "high": info.value_range[1],
            "default_color": info.default_color,
            "description": info.description,
        }
        for info in metrics.available()
    ]
    write_rows(rows, arguments.format, tuple(rows[0]))
    return EXIT_OK



def _run_models(arguments) -> int:
    from iqa_keras.loading import BUNDLED_MODELS_DIR, bundled_models

    names = bundled_models()
    if not names:
        print(
            f"No bundled models in {BUNDLED_MODELS_DIR}: they come with the package (reinstall it). "
            "Score with --metric, or --model PATH for your own .keras file."
        )
    for name in names:
        card = os.path.join(BUNDLED_MODELS_DIR, f"{name}.md")
        summary = ""
        if os.path.isfile(card):
            with open(card, encoding="utf-8") as file:
                summary = next((line.strip("# \n") for line in file if line.strip()), "")
        print(f"{name}\t{summary}")
    return EXIT_OK

