"""`iqa-keras evaluate` and `maps`: a measure against a database's human scores, and the
quality maps of a learned model as heat overlays.

Example:
>>> import argparse
>>> commands = argparse.ArgumentParser(prog="iqa-keras").add_subparsers()
>>> register(commands)
>>> sorted(commands.choices)
['evaluate', 'maps']
"""

from __future__ import annotations

import argparse
import os
import sys

from iqa_keras.cli.errors import EXIT_FAILED_INPUT, EXIT_OK, FailedInput, UsageError
from iqa_keras.cli.options import add_format, add_no_progress, add_tile_size, image_pairs, opacity, progress
from iqa_keras.results import write_rows

__all__ = ["register"]


def register(commands) -> None:
    """Adds `evaluate` and `maps` to the command's subparsers."""
    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a metric or model on a database: SRCC, KRCC, PLCC, RMSE and a scatter plot",
        description=(
            "Score a database's images with a classic metric or a learned model and compare with the "
            "human scores: SRCC, KRCC, PLCC (raw and after the VQEG logistic fit) and RMSE."
        ),
        epilog=(
            "examples:\n"
            "  iqa-keras evaluate --dataset kadid10k --root kadid10k/ --metric ms_ssim --plot kadid_msssim.png\n"
            "  iqa-keras evaluate --dataset koniq10k --root koniq/ --model nr.keras --split official --part test\n"
            "  iqa-keras evaluate --dataset csv --root clive/ratings.csv --model nr-default --split content --repeats 10"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("--dataset", required=True, metavar="NAME", help="a reader name (kadid10k, tid2013, live, ...)")
    evaluate.add_argument("--root", required=True, metavar="DIR", help="the database's folder (CSV file for csv)")
    evaluated = evaluate.add_mutually_exclusive_group(required=True)
    evaluated.add_argument("--metric", "-m", metavar="NAME", help="a classic metric")
    evaluated.add_argument("--model", metavar="PATH", help="a learned model: .keras file or bundled name")
    evaluate.add_argument(
        "--split", choices=("all", "official", "content", "kfold"), default="all",
        help="all records, the release's official split, random 80/20 splits by content, or k folds by "
             "content; several splits print a row each and their median; default: all",
    )
    evaluate.add_argument("--part", default="test", help="the part to evaluate with --split; default: test")
    evaluate.add_argument("--repeats", type=int, default=1, metavar="N",
                          help="random splits with --split content (the field reports the median of 10); default: 1")
    evaluate.add_argument("--folds", type=int, default=5, metavar="K", help="folds with --split kfold; default: 5")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of --split content and kfold; default: 0")
    evaluate.add_argument("--plot", metavar="PNG", help="write a scatter plot with the logistic fit")
    add_no_progress(evaluate)
    add_format(evaluate)
    add_tile_size(evaluate)
    evaluate.set_defaults(run=_run_evaluate)

    maps = commands.add_parser(
        "maps",
        help="write quality maps as heat overlays next to the images",
        description=(
            "Score images with a learned model and write each one's quality map as a heat overlay "
            "PNG (<image>.quality.png, or <image>.<ext>.quality.png where two images share a name): "
            "red where quality is poor, blue where it is good."
        ),
        epilog=(
            "examples:\n"
            "  iqa-keras maps --model fr.keras --reference ref.png dist.png\n"
            "  iqa-keras maps --model nr.keras photos/ --out maps/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    maps.add_argument("distorted", nargs="+", metavar="DISTORTED", help="images: files, folders or globs")
    maps.add_argument("--model", required=True, metavar="PATH", help="a learned model: .keras file or bundled name")
    maps.add_argument("--reference", "-r", metavar="REF", help="reference image or folder (full-reference models)")
    maps.add_argument("--out", metavar="DIR", help="folder for the overlays; default: next to each image")
    maps.add_argument("--alpha", type=opacity, default=0.5, help="opacity of the heat map, 0-1; default: 0.5")
    add_tile_size(maps)
    add_no_progress(maps)
    maps.set_defaults(run=_run_maps)


def _run_evaluate(arguments) -> int:
    from iqa_keras import protocol, scoring, visualize
    from iqa_keras.atomic import refuse_foreign_file
    from iqa_keras.data import read_dataset

    if arguments.plot:
        if not os.path.isdir(os.path.dirname(os.path.abspath(arguments.plot))):
            raise UsageError(f"--plot {arguments.plot}: its folder does not exist")
        refuse_foreign_file(arguments.plot, "--plot", visualize.is_own_picture)
    function, _, name = scoring.measure(arguments.metric, arguments.model, tile_size=arguments.tile_size)
    records = read_dataset(arguments.dataset, arguments.root)
    parts = protocol.evaluation_parts(records, arguments.split, arguments.part, arguments.seed,
                                      arguments.repeats, arguments.folds)
    scored = list(dict.fromkeys(record for part in parts for record in part))  # each record once
    pairs = [(record.reference, record.distorted) for record in scored]
    results = list(progress(scoring.score_files(pairs, function, name), len(pairs), arguments))
    errors = [result.error for result in results if result.error is not None]
    for error in errors:
        print(f"iqa-keras evaluate: error: {error}", file=sys.stderr)
    if errors:
        return EXIT_FAILED_INPUT
    # Correlations are reported for "higher = better" on both sides, as the field does.
    sign = -1.0 if arguments.metric and scoring.metrics.get(arguments.metric).higher_is_better is False else 1.0
    scores = {record: sign * result.score for record, result in zip(scored, results)}
    try:
        rows = protocol.evaluate_parts(scores, parts)
    except ValueError as error:  # fewer than 2 images, or a score that is not finite
        raise FailedInput(f"{arguments.dataset} at {arguments.root}: {error}") from error
    rows = [{"dataset": arguments.dataset, "measure": name, **row} for row in rows]
    write_rows(rows, arguments.format, tuple(rows[0]))
    if arguments.plot:
        visualize.scatter_plot(list(scores.values()), [record.score for record in scored], path=arguments.plot,
                               title=f"{name} on {arguments.dataset}")
    return EXIT_OK


def _run_maps(arguments) -> int:
    from iqa_keras import inputs, io, scoring, visualize
    from iqa_keras.atomic import refuse_foreign_file
    from iqa_keras.loading import load
    from iqa_keras.tiling import Scorer

    arguments.out = arguments.out or None  # --out "": next to each image, as without it
    if arguments.out and os.path.exists(arguments.out) and not os.path.isdir(arguments.out):
        raise UsageError(f"--out {arguments.out} is a file, not a folder")
    try:
        scorer = Scorer(load(arguments.model, compile=False), arguments.tile_size)
    except TypeError as error:  # a Keras model that is not one of the toolkit's: it has no quality map
        raise UsageError(f"--model {arguments.model}: {error}") from error
    if scorer.full_reference != (arguments.reference is not None):
        raise UsageError("this model is full-reference: give --reference" if scorer.full_reference
                         else "this model is no-reference: it would ignore the references; drop --reference")
    named, unmatched = image_pairs(arguments.distorted, arguments.reference)
    pairs, overlays = [], []
    for reference, path in named:
        (overlays if path.endswith(inputs.OVERLAY_SUFFIX) else pairs).append((reference, path))
    targets = inputs.overlay_paths([path for _, path in pairs], arguments.out)
    for target in targets:
        refuse_foreign_file(target, "maps", visualize.is_own_picture)
    for _, path in overlays:  # named by a shell's glob: mapping them would pile overlays on overlays
        print(f"iqa-keras maps: skipped {path}: a quality map this command writes", file=sys.stderr)
    for error in unmatched:
        print(f"iqa-keras maps: error: {error}", file=sys.stderr)
    if arguments.out:
        os.makedirs(arguments.out, exist_ok=True)
    failed = bool(unmatched)
    for (reference, path), target in progress(zip(pairs, targets), len(pairs), arguments):
        try:
            reference_image, image = io.read_pair(reference, path)
            prediction = scorer(image, reference_image, maps=True)
            visualize.save_overlay(target, image, prediction.quality_map, alpha=arguments.alpha)
        except Exception as error:  # noqa: BLE001 - whatever fails, the other files go on
            failed = True
            print(f"iqa-keras maps: error: {scoring.failure_message(error, path)}", file=sys.stderr)
            continue
        print(f"{path}\t{prediction.score:.6g}\t{target}")
    return EXIT_FAILED_INPUT if failed else EXIT_OK
