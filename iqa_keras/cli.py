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
import dataclasses
import math
import os
import sys
import tempfile

from iqa_keras.loading import ModelLoadError
from iqa_keras.results import write_rows
from iqa_keras.serving.limits import ServerLimits

__all__ = ["main"]

EXIT_OK, EXIT_FAILED_INPUT, EXIT_USAGE = 0, 1, 2
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


def main(argv: list[str] | None = None) -> int:
    """Runs the command with `argv` (default: the process arguments); returns the exit code."""
    parser = _build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return EXIT_USAGE
    _import_tensorflow_quietly()
    for stream in (sys.stdout, sys.stderr):  # file names that are not valid UTF-8 print as they are
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
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
    _add_format(score)
    _add_tile_size(score)
    score.add_argument("--output", "-o", metavar="FILE",
                       help="write the result to FILE (atomically, in --format) instead of the terminal")
    score.add_argument("--overwrite", action="store_true", help="let --output replace an existing FILE")
    score.add_argument(
        "--resume", action="store_true",
        help="append each row to --output (csv or jsonl) as it is scored, skipping the images it already "
             "holds: a killed job run again loses and repeats no row",
    )
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
    generate.add_argument(
        "--pristine", required=True, nargs="+", metavar="DIR", help="folder(s) of pristine images"
    )
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
    generate.add_argument(
        "--max-side", type=int, metavar="PIXELS",
        help="downscale larger photos to this longer side first (KADID-10k's is 512); default: keep",
    )
    generate.add_argument(
        "--workers", type=int, default=1, metavar="N", help="processes working in parallel; default: 1"
    )
    generate.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    generate.set_defaults(run=_run_generate)

    train = commands.add_parser(
        "train",
        help="train a model from a config file (YAML or JSON)",
        description="Train a model with model.fit from a config file; a killed run resumes where it stopped.",
        epilog=(
            "examples:\n"
            "  iqa-keras train training/synthetic_fr.yaml --set data.root=synthetic/\n"
            "  iqa-keras train training/kadid10k_fr.yaml --set data.root=kadid10k/ --set trainer.epochs=5\n"
            "  iqa-keras train training/livec_nr.yaml --splits 10     (10 random splits: runs/.../split-01..10)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("config", metavar="CONFIG", help="a training config (see training/)")
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value by its dotted name (repeatable)",
    )
    train.add_argument(
        "--splits", type=int, metavar="N",
        help="train one run per split into OUTPUT_DIR/split-<i>: N random splits by content (data.repeat "
             "0..N-1), or the N folds of split: kfold; prints each split's test figures and the median, "
             "also written to OUTPUT_DIR/splits.json",
    )
    _add_format(train)
    train.set_defaults(run=_run_train)

    finetune = commands.add_parser(
        "finetune",
        help="fine-tune a model on your own rated images (a CSV)",
        description=(
            "Fine-tune a saved model on a CSV of rated images (columns reference,distorted,score), "
            "holding part of it out to report SRCC and PLCC before and after."
        ),
        epilog="example:\n  iqa-keras finetune --model fr.keras --data my_ratings.csv --out finetuned/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    finetune.add_argument("--model", required=True, metavar="PATH", help="a .keras model or a bundled name")
    finetune.add_argument("--data", required=True, metavar="CSV", help="the ratings: reference,distorted,score")
    finetune.add_argument("--out", default="finetuned", metavar="DIR", help="output folder; default: finetuned")
    finetune.add_argument(
        "--freeze-encoder", action=argparse.BooleanOptionalAction, default=True,
        help="keep the encoder's weights (a no-reference HallucinatedIQA: its generator and discriminator); default: freeze",
    )
    finetune.add_argument("--learning-rate", type=float, default=1e-5, help="peak learning rate; default: 1e-5")
    finetune.add_argument("--epochs", type=int, default=5, help="passes over your data; default: 5")
    finetune.add_argument("--batch-size", type=int, default=8, help="crops per batch; default: 8")
    finetune.add_argument(
        "--crop-size", type=int, default=224, help="side of the training crops (at most the images' side); default: 224"
    )
    finetune.set_defaults(run=_run_finetune)

    export = commands.add_parser(
        "export",
        help="export a model as a TF Serving SavedModel (or ONNX)",
        description=(
            "Write MODEL as OUT_DIR/<version>/, the layout TF Serving watches, with the signatures "
            "serving_default (float images 0-255) and serve_bytes (encoded images); or an ONNX file."
        ),
        epilog=(
            "examples:\n"
            "  iqa-keras export fr.keras serving/fr\n"
            "  iqa-keras export fr.keras serving/fr --version 3 --maps\n"
            "  iqa-keras export fr.keras fr.onnx --format onnx"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("model", metavar="MODEL", help="a .keras model or a bundled name")
    export.add_argument("out", metavar="OUT", help="the model's base folder (SavedModel) or file (ONNX)")
    export.add_argument("--version", type=int, metavar="N", help="version number; default: the next one")
    export.add_argument("--format", choices=("savedmodel", "onnx"), default="savedmodel", help="default: savedmodel")
    export.add_argument("--maps", action="store_true", help="also output the quality map")
    export.set_defaults(run=_run_export)

    serve = commands.add_parser(
        "serve",
        help="serve an exported model over TF Serving's REST (and gRPC) API",
        description=(
            "Serve MODEL_DIR (a TF Serving base folder: MODEL_DIR/<version>/saved_model.pb) with TF "
            "Serving's REST API (POST /v1/models/<name>:predict, GET /v1/models/<name>[/metadata]) and, "
            "with the 'serving' extra, its gRPC PredictionService. Stops cleanly on Ctrl-C or SIGTERM."
        ),
        epilog=(
            "examples:\n"
            "  iqa-keras serve serving/fr\n"
            "  iqa-keras serve serving/fr --port 8501 --grpc-port 8500 --host 0.0.0.0"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("model_dir", metavar="MODEL_DIR", help="the exported model's base folder")
    serve.add_argument("--port", type=int, default=8501, help="REST port; default: 8501")
    serve.add_argument("--grpc-port", type=int, metavar="PORT", help="gRPC port (needs iqa-keras[serving])")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind; default: 127.0.0.1")
    serve.add_argument("--name", metavar="NAME", help="model name in URLs; default: the folder's name")
    limits = serve.add_argument_group("limits (iqa_keras.serving.ServerLimits)")
    for field in dataclasses.fields(ServerLimits):
        limits.add_argument("--" + field.name.replace("_", "-"), type=type(field.default), default=field.default,
                            metavar="N", help=f"{field.metadata['help']}; default: {field.default}")
    serve.set_defaults(run=_run_serve)

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
    maps.add_argument("--alpha", type=_opacity, default=0.5, help="opacity of the heat map, 0-1; default: 0.5")
    _add_tile_size(maps)
    maps.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    maps.set_defaults(run=_run_maps)

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
    evaluate.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    _add_format(evaluate)
    _add_tile_size(evaluate)
    evaluate.set_defaults(run=_run_evaluate)

    models = commands.add_parser(
        "models",
        help="list the bundled models with their model cards",
        description="List the models bundled in saved_models/, with the first lines of their model cards.",
        epilog="example:\n  iqa-keras models",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    models.set_defaults(run=_run_models)
    return parser


def _add_tile_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tile-size", type=_tile_side, metavar="PIXELS",
        help="learned models: score images of more than PIXELS squared pixels in tiles of this side "
             "(memory bounded by the tile; a training config's data.evaluation.tile_size); default: 1024",
    )


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format", "-f", choices=("table", "csv", "json", "jsonl"), default="table",
        help="output format (jsonl: one JSON object per line); default: table",
    )


def _run_score(arguments) -> int:
    from iqa_keras import inputs, scoring
    from iqa_keras.data import DatasetError

    if not arguments.distorted and arguments.pair_list is None:
        print("iqa-keras score: error: name images to score, or give --list CSV", file=sys.stderr)
        return EXIT_USAGE
    if arguments.reference is not None and not arguments.distorted:
        print("iqa-keras score: error: --reference pairs the images named on the command line; a --list "
              "gives its references in a `reference` column", file=sys.stderr)
        return EXIT_USAGE
    try:
        shard = inputs.parse_shard(arguments.shard) if arguments.shard is not None else None
        _check_output(arguments)
    except (ValueError, FileExistsError) as error:
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        pairs, unmatched = _pairs(arguments.distorted, arguments.reference, arguments.pair_list, shard)
    except (inputs.InputError, DatasetError) as error:
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    if shard is not None and not pairs and not unmatched:  # nothing of the input falls into this part
        return _write_scores([], arguments)
    for error in unmatched:
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
    if not pairs:
        return EXIT_FAILED_INPUT
    if arguments.metric is None and arguments.model is None:
        arguments.model = scoring.default_model(any(reference is not None for reference, _ in pairs))
    try:
        function, needs_reference, name = scoring.measure(
            arguments.metric, arguments.model, arguments.color, arguments.tile_size
        )
    except (FileNotFoundError, ModelLoadError) as error:
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    except (ValueError, TypeError) as error:  # an unknown metric, --color with a model, a plain Keras model
        print(f"iqa-keras score: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if needs_reference and any(reference is None for reference, _ in pairs):
        print(f"iqa-keras score: error: {name} is full-reference: give --reference", file=sys.stderr)
        return EXIT_USAGE
    if not needs_reference and any(reference is not None for reference, _ in pairs):
        print(f"iqa-keras score: error: {name} is no-reference: it would ignore the references; "
              "drop --reference (or the list's reference column)", file=sys.stderr)
        return EXIT_USAGE
    appended = None
    if arguments.resume:
        from iqa_keras.results import AppendedRows

        try:
            appended = AppendedRows(arguments.output, arguments.format, _SCORE_COLUMNS)
        except (ValueError, OSError) as error:
            print(f"iqa-keras score: error: --output: {error}", file=sys.stderr)
            return EXIT_USAGE
        pairs = [(reference, path) for reference, path in pairs if (reference or "", path) not in appended.done]
    rows = []
    failed = bool(unmatched)
    try:
        for result in _progress(scoring.score_files(pairs, function, name), len(pairs), arguments):
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
    except FileExistsError:
        print(f"iqa-keras score: error: --output {arguments.output} appeared while scoring; nothing "
              "replaced it (give --overwrite to replace it)", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _pairs(distorted_names, reference=None, pair_list=None, shard=None):
    """(reference or None, distorted) pairs from named images (files, folders, globs) and a
    CSV list, and an `InputError` for each image a reference folder has no reference for;
    with `shard` (index, count), those of that part of the images only."""
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


def _run_generate(arguments) -> int:
    from iqa_keras.data import DatasetError
    from iqa_keras.data.generate import generate_dataset
    from iqa_keras.io import ImageReadError

    try:
        pristine = arguments.pristine[0] if len(arguments.pristine) == 1 else arguments.pristine
        summary = generate_dataset(
            pristine, arguments.out, types=arguments.types, levels=arguments.levels,
            compositions=arguments.compose, seed=arguments.seed, max_side=arguments.max_side,
            workers=arguments.workers,
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


def _run_train(arguments) -> int:
    from iqa_keras.data import DatasetError
    from iqa_keras.training import ConfigError, load_config, train_from_file, train_splits

    try:
        if arguments.splits is None:
            result = train_from_file(arguments.config, arguments.set)
        else:
            rows = train_splits(load_config(arguments.config, arguments.set), arguments.splits)
    except (ConfigError, FileExistsError, FileNotFoundError) as error:
        print(f"iqa-keras train: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DatasetError as error:
        print(f"iqa-keras train: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    except _data_errors() as error:
        print(f"iqa-keras train: error: {_data_error_message(error)}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    if arguments.splits is None:
        print(result.summary())
    else:
        write_rows(rows, arguments.format, columns=("split", "n", "srcc", "krcc", "plcc", "rmse"))
    return EXIT_OK


def _run_finetune(arguments) -> int:
    from iqa_keras.data import DatasetError
    from iqa_keras.loading import model_path
    from iqa_keras.training import finetune

    try:
        result = finetune(
            model_path(arguments.model), arguments.data, arguments.out,
            freeze_encoder=arguments.freeze_encoder, learning_rate=arguments.learning_rate,
            epochs=arguments.epochs, batch_size=arguments.batch_size, crop_size=arguments.crop_size,
        )
    except (DatasetError, FileNotFoundError, ModelLoadError) as error:
        print(f"iqa-keras finetune: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    except _data_errors() as error:
        print(f"iqa-keras finetune: error: {_data_error_message(error)}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    except (FileExistsError, ValueError) as error:
        print(f"iqa-keras finetune: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(result.table())
    print(f"fine-tuned model: {result.model_path}")
    return EXIT_OK


def _run_export(arguments) -> int:
    from iqa_keras import export
    from iqa_keras.loading import load

    if arguments.format == "onnx" and arguments.version is not None:
        print("iqa-keras export: error: --version numbers SavedModel folders; an ONNX export is "
              "the one file OUT", file=sys.stderr)
        return EXIT_USAGE
    try:
        model = load(arguments.model, compile=False)
    except (FileNotFoundError, ModelLoadError) as error:
        print(f"iqa-keras export: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    if arguments.maps:
        if not hasattr(model, "with_outputs"):
            print(f"iqa-keras export: error: --maps: {arguments.model} is a {type(model).__name__}, "
                  "which has no quality map (only the toolkit's learned models have one)", file=sys.stderr)
            return EXIT_USAGE
        model = model.with_outputs(("score", "quality_map"))
    try:
        if arguments.format == "onnx":
            written = export.export_onnx(model, arguments.out)
        else:
            written = export.export_saved_model(model, arguments.out, version=arguments.version)
    except (FileExistsError, ImportError, ValueError) as error:
        print(f"iqa-keras export: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"iqa-keras export: error: cannot write {arguments.out}: {error.strerror or error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    print(f"exported {arguments.model} to {written}")
    return EXIT_OK


def _run_serve(arguments) -> int:
    import logging

    from iqa_keras.serving import serve

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    limits = {field.name: getattr(arguments, field.name) for field in dataclasses.fields(ServerLimits)}
    try:
        ServerLimits(**limits)
    except ValueError as error:
        print(f"iqa-keras serve: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        serve(arguments.model_dir, port=arguments.port, grpc_port=arguments.grpc_port,
              host=arguments.host, model_name=arguments.name, **limits)
    except ImportError as error:
        print(f"iqa-keras serve: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, OSError) as error:
        print(f"iqa-keras serve: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    return EXIT_OK


def _run_maps(arguments) -> int:
    from iqa_keras import inputs, io, scoring, visualize
    from iqa_keras.atomic import refuse_foreign_file
    from iqa_keras.loading import load
    from iqa_keras.tiling import Scorer

    arguments.out = arguments.out or None  # --out "": next to each image, as without it
    if arguments.out and os.path.exists(arguments.out) and not os.path.isdir(arguments.out):
        print(f"iqa-keras maps: error: --out {arguments.out} is a file, not a folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        scorer = Scorer(load(arguments.model, compile=False), arguments.tile_size)
        if scorer.full_reference != (arguments.reference is not None):
            print("iqa-keras maps: error: " + (
                "this model is full-reference: give --reference" if scorer.full_reference
                else "this model is no-reference: it would ignore the references; drop --reference"
            ), file=sys.stderr)
            return EXIT_USAGE
        named, unmatched = _pairs(arguments.distorted, arguments.reference)
        pairs, overlays = [], []
        for reference, path in named:
            (overlays if path.endswith(inputs.OVERLAY_SUFFIX) else pairs).append((reference, path))
        targets = inputs.overlay_paths([path for _, path in pairs], arguments.out)
        for target in targets:
            refuse_foreign_file(target, "maps", visualize.is_own_picture)
    except FileExistsError as error:
        print(f"iqa-keras maps: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except TypeError as error:  # a Keras model that is not one of the toolkit's: it has no quality map
        print(f"iqa-keras maps: error: --model {arguments.model}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, ModelLoadError, inputs.InputError) as error:
        print(f"iqa-keras maps: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    for _, path in overlays:  # named by a shell's glob: mapping them would pile overlays on overlays
        print(f"iqa-keras maps: skipped {path}: a quality map this command writes", file=sys.stderr)
    for error in unmatched:
        print(f"iqa-keras maps: error: {error}", file=sys.stderr)
    if arguments.out:
        os.makedirs(arguments.out, exist_ok=True)
    failed = bool(unmatched)
    for (reference, path), target in _progress(zip(pairs, targets), len(pairs), arguments):
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


def _run_evaluate(arguments) -> int:
    from iqa_keras import protocol, scoring, visualize
    from iqa_keras.atomic import refuse_foreign_file
    from iqa_keras.data import DatasetError, read_dataset

    if arguments.plot and not os.path.isdir(os.path.dirname(os.path.abspath(arguments.plot))):
        print(f"iqa-keras evaluate: error: --plot {arguments.plot}: its folder does not exist", file=sys.stderr)
        return EXIT_USAGE
    try:
        if arguments.plot:
            refuse_foreign_file(arguments.plot, "--plot", visualize.is_own_picture)
    except FileExistsError as error:
        print(f"iqa-keras evaluate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        function, _, name = scoring.measure(arguments.metric, arguments.model, tile_size=arguments.tile_size)
        records = read_dataset(arguments.dataset, arguments.root)
        parts = protocol.evaluation_parts(records, arguments.split, arguments.part, arguments.seed,
                                          arguments.repeats, arguments.folds)
    except (DatasetError, FileNotFoundError, ModelLoadError) as error:
        print(f"iqa-keras evaluate: error: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    except (ValueError, KeyError, TypeError) as error:  # TypeError: a Keras model not of the toolkit's
        print(f"iqa-keras evaluate: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    scored = list(dict.fromkeys(record for part in parts for record in part))  # each record once
    pairs = [(record.reference, record.distorted) for record in scored]
    results = list(_progress(scoring.score_files(pairs, function, name), len(pairs), arguments))
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
        print(f"iqa-keras evaluate: error: {arguments.dataset} at {arguments.root}: {error}", file=sys.stderr)
        return EXIT_FAILED_INPUT
    rows = [{"dataset": arguments.dataset, "measure": name, **row} for row in rows]
    write_rows(rows, arguments.format, tuple(rows[0]))
    if arguments.plot:
        visualize.scatter_plot(list(scores.values()), [record.score for record in scored], path=arguments.plot,
                               title=f"{name} on {arguments.dataset}")
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


def _data_errors():
    """The error TensorFlow raises when our data code fails inside a tf.data pipeline."""
    import tensorflow as tf

    return tf.errors.InvalidArgumentError


def _data_error_message(error) -> str:
    """Our own message (it names the file) from a TensorFlow error that wraps it, wherever
    it sits: a line of its own (eager) or after the iterator's trace (inside a compiled
    training step)."""
    import re

    found = re.search(r"\b(?:ImageReadError|ValueError): (.+)", error.message)
    return found[1].strip() if found else error.message.splitlines()[0]


def _tile_side(text: str) -> int:
    """argparse type: an integer of at least 32 (the tiles' alignment)."""
    if not text.strip().isdigit() or int(text) < 32:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 32, not {text!r}")
    return int(text)


def _opacity(text: str) -> float:
    """argparse type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, not {text!r}")
    return value


def _progress(iterable, total: int, arguments):
    """Wraps `iterable` in a progress bar on stderr when there are several files and a terminal."""
    if arguments.no_progress or total < 2 or not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, unit="image", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
