"""`iqa-keras generate`, `train` and `finetune`: making data and training on it.

Example:
>>> import argparse
>>> commands = argparse.ArgumentParser(prog="iqa-keras").add_subparsers()
>>> register(commands)
>>> sorted(commands.choices)
['finetune', 'generate', 'train']
"""

from __future__ import annotations

import argparse
import sys

from iqa_keras.cli.errors import EXIT_OK, UsageError
from iqa_keras.cli.options import add_format, add_no_progress
from iqa_keras.results import write_rows

__all__ = ["register"]


def register(commands) -> None:
    """Adds `generate`, `train` and `finetune` to the command's subparsers."""
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
    add_no_progress(generate)
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
    add_format(train)
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


def _run_generate(arguments) -> int:
    from iqa_keras.data.generate import generate_dataset

    pristine = arguments.pristine[0] if len(arguments.pristine) == 1 else arguments.pristine
    summary = generate_dataset(
        pristine, arguments.out, types=arguments.types, levels=arguments.levels,
        compositions=arguments.compose, seed=arguments.seed, max_side=arguments.max_side,
        workers=arguments.workers,
        progress=not arguments.no_progress and sys.stderr.isatty(),
    )
    print(
        f"{summary.rows} distorted images of {summary.references} references in {arguments.out} "
        f"({summary.written} written, {summary.kept} kept from an earlier run)"
    )
    return EXIT_OK


def _run_train(arguments) -> int:
    from iqa_keras.training import load_config, train_from_file, train_splits

    try:
        if arguments.splits is None:
            print(train_from_file(arguments.config, arguments.set).summary())
            return EXIT_OK
        rows = train_splits(load_config(arguments.config, arguments.set), arguments.splits)
    except FileNotFoundError as error:  # a config, or a pretrained model it names, that is not there
        raise UsageError(str(error)) from error
    write_rows(rows, arguments.format, columns=("split", "n", "srcc", "krcc", "plcc", "rmse"))
    return EXIT_OK


def _run_finetune(arguments) -> int:
    from iqa_keras.loading import model_path
    from iqa_keras.training import finetune

    result = finetune(
        model_path(arguments.model), arguments.data, arguments.out,
        freeze_encoder=arguments.freeze_encoder, learning_rate=arguments.learning_rate,
        epochs=arguments.epochs, batch_size=arguments.batch_size, crop_size=arguments.crop_size,
    )
    print(result.table())
    print(f"fine-tuned model: {result.model_path}")
    return EXIT_OK
