"""The `iqa-keras` command: a thin layer over the library's modules.

Exit codes: 0 success, 1 a failed input (the message names the file), 2 bad usage.

Example:
>>> main(["metrics", "--format", "csv"])  # doctest: +ELLIPSIS
name,higher_is_better,best,low,high,default_color,description
psnr,...
0
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile

__all__ = ["main"]

EXIT_OK, EXIT_FAILED_INPUT, EXIT_USAGE = 0, 1, 2

_SCORE_EXAMPLES = """examples:
  iqa-keras score --metric ssim --reference iqa_keras/examples/reference.png iqa_keras/examples/distorted_jpeg.png
  iqa-keras score --model my_model.keras --reference ref.png dist.png
  iqa-keras score --metric psnr --reference refs/ dists/ --format csv     (pairs matched by file name)
  iqa-keras score --metric ms_ssim --reference ref.png "dists/*.jpg" --format json
"""


def main(argv: list[str] | None = None) -> int:
    """Runs the command with `argv` (default: the process arguments); returns the exit code."""
    parser = _build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return EXIT_USAGE
    _import_tensorflow_quietly()
    return arguments.run(arguments)


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow and finds its devices with their log lines held back.

    TensorFlow 2.21 writes informational lines (and, on machines without a GPU, a CUDA
    error) to file descriptor 2 before its logging is initialised, whatever
    TF_CPP_MIN_LOG_LEVEL says; they would bury our messages. They are shown if it fails.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _build_parser() -> argparse.ArgumentParser:
    from iqa_keras import __version__

    parser = argparse.ArgumentParser(
        prog="iqa-keras",
        description="Image quality assessment: classic metrics and learned models.",
        epilog="Run 'iqa-keras COMMAND --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"iqa-keras {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    score = commands.add_parser(
        "score",
        help="score distorted images against their references",
        description="Score distorted images. Each DISTORTED may be a file, a folder or a glob pattern.",
        epilog=_SCORE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("distorted", nargs="+", metavar="DISTORTED", help="images to score")
    score.add_argument(
        "--reference", "-r", metavar="REF",
        help="the reference image, or a folder of references matched to DISTORTED by file name "
        "(needed by classic metrics and full-reference models)",
    )
    measure = score.add_mutually_exclusive_group()
    measure.add_argument(
        "--metric", "-m", metavar="NAME",
        help="classic metric (see 'iqa-keras metrics'); default: ssim",
    )
    measure.add_argument("--model", metavar="PATH", help="a learned model: a .keras file or a bundled name")
    score.add_argument("--color", choices=("rgb", "y", "gray"), help="colour handling; default: the metric's own")
    _add_format(score)
    score.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    score.set_defaults(run=_run_score)

    listing = commands.add_parser(
        "metrics",
        help="list the classic metrics with their direction and range",
        description="List the classic metrics with their direction (higher or lower is better) and range.",
        epilog="example:\n  iqa-keras metrics --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_format(listing)
    listing.set_defaults(run=_run_metrics)

    generate = commands.add_parser(
        "generate",
        help="make a synthetic dataset (KADID-10k layout) from pristine photos",
        description=(
            "Distort every photo of PRISTINE with KADID-10k's distortion types and levels, labelled "
            "with KADID-10k's mean human score per type and level. Resumable: outputs already in "
            "OUT are kept. The result loads with read_dataset('kadid10k', OUT)."
        ),
        epilog=(
            "examples:\n"
            "  iqa-keras generate --pristine photos/ --out synthetic/\n"
            "  iqa-keras generate --pristine photos/ --out synthetic/ --types jpeg gaussian_blur "
            "--levels 1 3 5 --compose 4"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("--pristine", required=True, metavar="DIR", help="folder of pristine images")
    generate.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write (or resume)")
    generate.add_argument("--types", nargs="+", metavar="TYPE", help="distortion ids or names; default: all 25")
    generate.add_argument(
        "--levels", nargs="+", type=int, default=[1, 2, 3, 4, 5], metavar="LEVEL", help="levels 1..5; default: all"
    )
    generate.add_argument(
        "--compose", type=int, default=0, metavar="K",
        help="also make K random compositions of 2 or 3 distortions per photo; default: 0",
    )
    generate.add_argument("--seed", type=int, default=0, help="the dataset follows from it; default: 0")
    generate.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    generate.set_defaults(run=_run_generate)
    return parser


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", "-f", choices=("table", "csv", "json"), default="table",
        help="output format; default: table",
    )


def _run_score(arguments) -> int:
    from iqa_keras import inputs, scoring

    if arguments.metric is None and arguments.model is None:
        arguments.metric = "ssim"
    try:
        function, needs_reference, name = scoring.measure(arguments.metric, arguments.model, arguments.color)
    except FileNotFoundError as error:
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    except ValueError as error:  # an unknown metric name
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if needs_reference and arguments.reference is None:
        print(f"iqa-keras score: error: {name} is full-reference: give --reference", file=sys.stderr)
        return EXIT_USAGE
    try:
        distorted = inputs.expand_images(arguments.distorted)
        if arguments.reference is None:
            pairs = [(None, path) for path in distorted]
        else:
            pairs = inputs.match_pairs(arguments.reference, distorted)
    except inputs.InputError as error:
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    results = []
    failed = False
    for result in _progress(scoring.score_files(pairs, function, name), len(pairs), arguments):
        if result.error is not None:
            failed = True
            print(f"iqa-keras score: error: {result.error}", file=sys.stderr)
        else:
            results.append(result)
    rows = [
        {"distorted": r.distorted, "reference": r.reference, "score": r.score, "metric": r.measure}
        for r in results
    ]
    _write(rows, arguments.format, columns=("distorted", "reference", "metric", "score"))
    return EXIT_FAILED_INPUT if failed else EXIT_OK


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
    _write(rows, arguments.format, columns=tuple(rows[0]))
    return EXIT_OK


def _run_generate(arguments) -> int:
    from iqa_keras.data import DatasetError
    from iqa_keras.data.generate import generate_dataset
    from iqa_keras.io import ImageReadError

    try:
        summary = generate_dataset(
            arguments.pristine, arguments.out, types=arguments.types, levels=arguments.levels,
            compositions=arguments.compose, seed=arguments.seed,
            progress=not arguments.no_progress and sys.stderr.isatty(),
        )
    except (DatasetError, ImageReadError) as error:
        print(f"iqa-keras generate: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    except ValueError as error:
        print(f"iqa-keras generate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"{summary.rows} distorted images of {summary.references} references in {arguments.out} "
        f"({summary.written} written, {summary.kept} kept from an earlier run)"
    )
    return EXIT_OK


def _progress(iterable, total: int, arguments):
    """Wraps `iterable` in a progress bar on stderr when there are several files and a terminal."""
    if arguments.no_progress or total < 2 or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, unit="image", file=sys.stderr)


def _write(rows: list[dict], output_format: str, columns: tuple[str, ...]) -> None:
    if output_format == "json":
        json.dump([{key: _json_value(row[key]) for key in columns} for row in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif output_format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: row[key] for key in columns} for row in rows)
    else:
        table = [list(columns)] + [[_text(row[key]) for key in columns] for row in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def _text(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return "" if value is None else str(value)


def _json_value(value):
    """JSON has no infinity or NaN (PSNR of identical images is inf): those become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


if __name__ == "__main__":
    sys.exit(main())
