"""Accuracy of the default models and of PSNR, SSIM and MS-SSIM on held-out photos.

Run: `python bench/accuracy_report.py [--photos 8] [--fr-model NAME_OR_PATH]
[--nr-model NAME_OR_PATH]` (the models default to the bundled `fr-default` and
`nr-default`; `''` skips one), or `--data DIR` to score an existing dataset made by
`iqa-keras generate` (KADID-10k layout) instead of generating one. CPU or GPU.

Data. Without `--data`, a dataset is generated into a temporary folder (all 25 KADID
types unless `--types`, levels 1-5, no compositions, `--seed`, photos downscaled to
the recipe's `--max-side 512`) from `--photos` held-out photos, evenly spread, of
`--pristine` (default `../shared/pristine` beside the repository: a folder of images,
or a folder of such folders, taken in sorted order as the recipe's `generate` command
names them). The held-out photos are those of the training recipe's `validation` and
`test` parts, the 20% of photos never trained on: `--recipe` (default
`training/synthetic_fr.yaml`; `synthetic_nr.yaml` has the same split) is read with
`load_config`, and its `split_by_content` (its ratios and `split_seed`) is drawn over
the references `generate` makes from all the pristine folders (`I001`, `I002`, ... in
folder order, then file-name order). The distorted images are drawn anew (another
reference number gives other random draws), not the training set's own files.

Figures, one row per measure (the classic metrics always; each model unless skipped,
loaded with `iqa_keras.load` and scored whole-image with `iqa_keras.tiling.Scorer`):

- SRCC and PLCC (after the five-parameter logistic fit), `iqa_keras.evaluation.evaluate`,
  of the measure against the human prior label (KADID-10k's mean score of the type and
  level, 1-5, higher = better), over all distorted images, compositions included;
- level-ranking consistency: for each (photo, distortion type), the SRCC between the
  measure and minus the level (level 5 is the worst), averaged over the groups; groups
  where the measure is constant are left out and counted; compositions are left out.
  Column `level` over all types; column `mono` over the 22 types whose human scores fall
  at every level step (all but mean shift and contrast change, which KADID-10k's
  viewers rated best at middle levels, and colour shift, whose levels 4 and 5 they rated
  alike), so that even the human labels reach 1.0 only on `mono`;
- AUC (no-reference model only): how well its score separates the pristine references
  (positives) from the distorted images, the Mann-Whitney U over positives x negatives;
- per distortion type: the SRCC within each type (compositions left out);
- restoration (a no-reference model that hallucinates its reference, `HallucinatedIQA`):
  per type, the mean absolute difference from the reference (0-1 scale) of the distorted
  image and of the model's hallucination, and how often the hallucination is the closer:
  whether the generator restores, or its discrepancy map holds its own errors
  (compositions left out).

Authentic distortions (`--clive`, default `../shared/clive` beside the repository when it
exists, `''` to skip): the no-reference model and BRISQUE (the `brisque` package's
LIVE-trained model; `pip install ".[bench]"`) score every photo of the CLIVE list
(`ratings.csv`, generic CSV format) once, then `iqa_keras.protocol` prints SRCC and PLCC
on the test part of each of 10 random 80/20 splits and their median. Neither measure
learns from these splits: for a model trained on CLIVE, train one per split instead.

A first row, `human label`, scores each image with its own label: the ceiling of every
column (its `level` is below 1.0 because of the three non-monotone types).

PSNR, SSIM and MS-SSIM are `iqa_keras.metrics.get(name).function(reference, distorted,
data_range=255.0)` with their default colour handling, on `iqa_keras.io.read_image`
arrays (an infinite PSNR, of an image identical to its reference, is set 1 dB above the
largest finite one, keeping the ranks); a lower-is-better measure would have its sign turned so that every correlation
reads higher = better. Last, the issue's targets, met or missed, for the models given.
Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import math
import os
import shutil
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402
from tqdm import tqdm  # noqa: E402

import iqa_keras  # noqa: E402
from iqa_keras import metrics, protocol  # noqa: E402
from iqa_keras.data import read_dataset  # noqa: E402
from iqa_keras.data.distortions import get_distortion, kadid_mean_score  # noqa: E402
from iqa_keras.data.generate import generate_dataset, pristine_files, reference_sources  # noqa: E402
from iqa_keras.data.records import DatasetError, Record, Scale  # noqa: E402
from iqa_keras.data.splits import split_by_content  # noqa: E402
from iqa_keras.evaluation import LogisticFitWarning, evaluate  # noqa: E402
from iqa_keras.io import read_image  # noqa: E402
from iqa_keras.models import HallucinatedIQA  # noqa: E402
from iqa_keras.tiling import Scorer  # noqa: E402
from iqa_keras.training.config import load_config  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PRISTINE = os.path.join(REPO_ROOT, "..", "shared", "pristine")
DEFAULT_RECIPE = os.path.join(REPO_ROOT, "training", "synthetic_fr.yaml")
HELD_OUT_PARTS = ("validation", "test")  # the 20% of photos never trained on
MAX_SIDE = 512  # the recipe's `iqa-keras generate --max-side`
CLASSIC_METRICS = ("psnr", "ssim", "ms_ssim")
FR_SRCC_TARGET, FR_MARGIN_OVER_MS_SSIM = 0.93, 0.10
NR_SRCC_TARGET, LEVEL_CONSISTENCY_TARGET = 0.85, 0.95
DEFAULT_CLIVE = os.path.join(REPO_ROOT, "..", "shared", "clive")
CLIVE_SPLITS, CLIVE_SRCC_TARGET = 10, 0.80


def _falls_with_level(type_id: int) -> bool:
    """Whether KADID-10k's mean human score of the type falls at every level step."""
    means = [kadid_mean_score(type_id, level) for level in range(1, 6)]
    return all(worse < better for better, worse in zip(means, means[1:]))


# The distortion types (as the kadid10k reader names them: "01".."25") of column `mono`.
MONOTONE_TYPES = frozenset(f"{type_id:02d}" for type_id in range(1, 26) if _falls_with_level(type_id))


@dataclasses.dataclass
class Measure:
    """One row of the report: a name, its scores per distorted image, and for a
    no-reference model its scores of the pristine references."""

    name: str
    kind: str  # "label", "metric", "fr" or "nr"
    scores: np.ndarray
    reference_scores: np.ndarray | None = None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="an existing dataset made by `iqa-keras generate`")
    parser.add_argument("--pristine", default=DEFAULT_PRISTINE,
                        help="folder of pristine photos, or of such folders (default: ../shared/pristine)")
    parser.add_argument("--photos", type=int, default=8, help="how many held-out photos (evenly spread)")
    parser.add_argument("--types", help="comma-separated KADID type ids or names (default: all 25)")
    parser.add_argument("--seed", type=int, default=0, help="the generation seed")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, help="training recipe whose split to mirror")
    parser.add_argument("--fr-model", default="fr-default",
                        help="full-reference model: .keras path or bundled name; '' to skip (default: fr-default)")
    parser.add_argument("--nr-model", default="nr-default",
                        help="no-reference model: .keras path or bundled name; '' to skip (default: nr-default)")
    parser.add_argument("--clive", default=DEFAULT_CLIVE if os.path.isdir(DEFAULT_CLIVE) else "",
                        help="CLIVE folder with ratings.csv; '' to skip (default: ../shared/clive if present)")
    args = parser.parse_args(argv)
    if args.photos < 1:
        parser.error("--photos must be at least 1")
    return args


# --------------------------------------------------------------------------------------
# Data.


def pristine_folders(pristine: str) -> list[str]:
    """`pristine` itself if it holds images, else its subfolders that do (sorted): the
    folders the recipe's `iqa-keras generate --pristine` names, in the same order."""
    if not os.path.isdir(pristine):
        sys.exit(f"No pristine photo folder at {os.path.normpath(pristine)}: pass --pristine DIR "
                 "(a folder of photos, or of such folders) or --data DIR (a dataset made by "
                 "`iqa-keras generate`).")
    try:
        pristine_files(pristine)
        return [pristine]
    except DatasetError:  # no images directly inside: its subfolders
        folders = []
        for name in sorted(os.listdir(pristine)):
            try:
                pristine_files(os.path.join(pristine, name))
                folders.append(os.path.join(pristine, name))
            except DatasetError:
                continue
        if not folders:
            sys.exit(f"{os.path.normpath(pristine)} holds no images and no folder of images.")
        return folders


def held_out_photos(folders: list[str], recipe: str, count: int) -> list[tuple[str, str]]:
    """`count` photos, evenly spread, of the recipe's held-out parts, as (folder, file name)."""
    sources = reference_sources(folders)  # the reference ids `generate` gives
    data = load_config(recipe).data
    records = [Record(path, 3.0, Scale(1.0, 5.0, True), content_id=reference)
               for reference, (_, path) in sources.items()]
    (parts,) = split_by_content(records, data.ratios, seed=data.split_seed)
    held_out_paths = {record.distorted for part in HELD_OUT_PARTS for record in parts[part]}
    held_out = [(name, path) for name, path in sources.values() if path in held_out_paths]
    chosen = [held_out[int(i)] for i in np.linspace(0, len(held_out) - 1, min(count, len(held_out)))]
    print(f"held-out photos: {len(held_out)} of {len(sources)} (parts {' + '.join(HELD_OUT_PARTS)} of "
          f"{os.path.basename(recipe)}: ratios {dict(data.ratios)}, split_seed {data.split_seed}); "
          f"using {len(chosen)}, evenly spread: " + ", ".join(name for name, _ in chosen))
    return [(os.path.dirname(path), os.path.basename(path)) for _, path in chosen]


def generated_dataset(args, temporary: str) -> str:
    """Generates the held-out dataset under `temporary` and returns its folder."""
    photos = held_out_photos(pristine_folders(args.pristine), args.recipe, args.photos)
    folders = {}
    for folder, name in photos:
        chosen = folders.setdefault(folder, os.path.join(temporary, "pristine", os.path.basename(folder)))
        os.makedirs(chosen, exist_ok=True)
        shutil.copy(os.path.join(folder, name), chosen)
    out = os.path.join(temporary, "dataset")
    types = args.types.split(",") if args.types else None
    print(f"generating {len(photos)} photos x {len(types) if types else 25} types x 5 levels...",
          file=sys.stderr)
    generate_dataset(list(folders.values()), out, types=types, levels=(1, 2, 3, 4, 5), compositions=0,
                     seed=args.seed, progress=False, max_side=MAX_SIDE, workers=os.cpu_count() or 1)
    return out


def is_composition(record: Record) -> bool:
    return not str(record.distortion_type).isdigit()


# --------------------------------------------------------------------------------------
# Scoring.


def classic_measure(name: str, records: list[Record]) -> Measure:
    info = metrics.get(name)
    sign = -1.0 if info.higher_is_better is False else 1.0
    scores = []
    for record in tqdm(records, desc=name, file=sys.stderr):
        reference, distorted = read_image(record.reference), read_image(record.distorted)
        scores.append(sign * float(np.asarray(info.function(reference, distorted, data_range=255.0))))
    return Measure(name if sign > 0 else f"-{name}", "metric", finite(np.array(scores), name))


def finite(scores: np.ndarray, name: str) -> np.ndarray:
    """`scores` with +-inf (PSNR of an image identical to its reference) set one above
    (below) the finite range: ranks are kept and the logistic fit stays defined."""
    infinite = np.isinf(scores)
    if infinite.any():
        low, high = scores[~infinite].min(), scores[~infinite].max()
        scores = np.where(scores == np.inf, high + 1.0, np.where(scores == -np.inf, low - 1.0, scores))
        print(f"note: {name}: {infinite.sum()} infinite values (distorted image identical to its "
              "reference) set 1 beyond the finite range")
    return scores


def model_measure(model, name_or_path: str, kind: str, records: list[Record]) -> Measure:
    scorer = Scorer(model)
    if scorer.full_reference != (kind == "fr"):
        expected = "full-reference" if kind == "fr" else "no-reference"
        sys.exit(f"--{kind}-model {name_or_path} is not a {expected} model.")
    label = f"{kind.upper()} model {os.path.basename(name_or_path)}"
    scores = []
    for record in tqdm(records, desc=label, file=sys.stderr):
        reference = read_image(record.reference) if kind == "fr" else None
        scores.append(scorer(read_image(record.distorted), reference).score)
    references = None
    if kind == "nr":
        pristine = sorted({record.reference for record in records})
        references = np.array([scorer(read_image(path)).score
                               for path in tqdm(pristine, desc=f"{label} (pristine)", file=sys.stderr)])
    return Measure(label, kind, np.array(scores, np.float64), references)


def restoration(model: HallucinatedIQA, records: list[Record]) -> dict[str, np.ndarray]:
    """Per distortion type, rows (|distorted - reference|, |hallucination - reference|)
    of mean absolute differences on the 0-1 scale."""
    rows = collections.defaultdict(list)
    for record in tqdm([r for r in records if not is_composition(r)], desc="hallucinations", file=sys.stderr):
        distorted, reference = read_image(record.distorted), read_image(record.reference)
        hallucination = np.asarray(model.generator(distorted[None])["hallucination"])[0]
        rows[record.distortion_type].append(
            [np.mean(np.abs(image - reference)) / 255.0 for image in (distorted, hallucination)])
    return {token: np.array(values) for token, values in sorted(rows.items())}


# --------------------------------------------------------------------------------------
# Figures.


def level_consistency(scores: np.ndarray, records: list[Record], monotone_only: bool = False
                      ) -> tuple[float, int, int]:
    """Mean SRCC(score, -level) over (photo, type) groups, of all types or only of those
    whose human scores fall with the level; (mean, groups used, constant)."""
    groups = collections.defaultdict(list)
    for index, record in enumerate(records):
        if not is_composition(record) and (not monotone_only or record.distortion_type in MONOTONE_TYPES):
            groups[(record.content_id, record.distortion_type)].append(index)
    values, constant = [], 0
    for indices in groups.values():
        group = scores[indices]
        if np.ptp(group) == 0:
            constant += 1
            continue
        levels = [-records[index].distortion_level for index in indices]
        values.append(stats.spearmanr(group, levels).statistic)
    return (float(np.mean(values)) if values else math.nan), len(values), constant


def separation_auc(measure: Measure) -> float:
    """P(a pristine image scores above a distorted one), ties counting one half."""
    if measure.reference_scores is None:
        return math.nan
    positives, negatives = measure.reference_scores, measure.scores
    u = stats.mannwhitneyu(positives, negatives).statistic
    return float(u / (len(positives) * len(negatives)))


def per_type_srcc(scores: np.ndarray, records: list[Record], labels: np.ndarray) -> dict[str, float]:
    by_type = collections.defaultdict(list)
    for index, record in enumerate(records):
        if not is_composition(record):
            by_type[record.distortion_type].append(index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LogisticFitWarning)  # only the SRCC is used
        return {kind: evaluate(scores[indices], labels[indices]).srcc
                for kind, indices in sorted(by_type.items())}


def type_name(token: str) -> str:
    return f"{token} {get_distortion(token).name}"


def fmt(value: float) -> str:
    return "   -  " if math.isnan(value) else f"{value:6.3f}"


def print_overall(measures: list[Measure], records: list[Record], labels: np.ndarray) -> dict:
    compositions = sum(map(is_composition, records))
    print(f"\nOverall: {len(records)} distorted images of {len({r.content_id for r in records})} "
          f"photos ({compositions} compositions, included in SRCC/PLCC only)")
    print(f"{'measure':<28} {'SRCC':>6} {'PLCC':>6} {'level':>6} {'mono':>6} {'AUC':>6} {'n':>6}  level groups")
    summary = {}
    for measure in measures:
        result = evaluate(measure.scores, labels)
        level, used, constant = level_consistency(measure.scores, records)
        monotone, _, _ = level_consistency(measure.scores, records, monotone_only=True)
        auc = separation_auc(measure)
        summary[measure.name] = (measure, result.srcc, level, monotone)
        print(f"{measure.name:<28} {fmt(result.srcc)} {fmt(result.plcc)} {fmt(level)} {fmt(monotone)} "
              f"{fmt(auc)} {result.n:>6}  {used} used, {constant} constant left out")
    print("level = level-ranking consistency over all types, mono = over the types whose human scores "
          "fall with the level; AUC = pristine vs distorted (no-reference model only)")
    return summary


def print_per_type(measures: list[Measure], records: list[Record], labels: np.ndarray) -> None:
    tables = [per_type_srcc(measure.scores, records, labels) for measure in measures]
    if not tables[0]:
        return
    names = [measure.name[:12] for measure in measures]
    print("\nSRCC per distortion type (within the type, over photos x levels)")
    print(f"{'type':<31} " + " ".join(f"{name:>12}" for name in names))
    for token in tables[0]:
        print(f"{type_name(token):<31} " + " ".join(f"{fmt(table[token]):>12}" for table in tables))


def print_restoration(name: str, rows: dict[str, np.ndarray]) -> None:
    print(f"\nRestoration by {name}'s generator: mean |image - reference| (0-1 scale) of the "
          "distorted image and of the hallucination, and the share of images it brings closer")
    print(f"{'type':<31} {'distorted':>9} {'halluc.':>9} {'closer':>7}")
    for token, values in [*rows.items(), ("all", np.concatenate(list(rows.values())))]:
        label = type_name(token) if token != "all" else "all types"
        closer = np.mean(values[:, 1] < values[:, 0])
        print(f"{label:<31} {values[:, 0].mean():9.4f} {values[:, 1].mean():9.4f} {closer:7.2f}")


def print_targets(summary: dict) -> None:
    print("\nTargets")
    models = [entry for entry in summary.values() if entry[0].kind in ("fr", "nr")]
    if not models:
        print("no model given (--fr-model / --nr-model): no target to check")
        return
    ms_ssim = summary.get("ms_ssim", (None, math.nan))[1]
    for measure, srcc, level, monotone in models:
        checks = [(f"SRCC >= {FR_SRCC_TARGET}" if measure.kind == "fr" else f"SRCC >= {NR_SRCC_TARGET}",
                   srcc, FR_SRCC_TARGET if measure.kind == "fr" else NR_SRCC_TARGET),
                  (f"level-ranking consistency >= {LEVEL_CONSISTENCY_TARGET}", level,
                   LEVEL_CONSISTENCY_TARGET),
                  (f"  the same over monotone types (mono) >= {LEVEL_CONSISTENCY_TARGET}", monotone,
                   LEVEL_CONSISTENCY_TARGET)]
        if measure.kind == "fr":
            checks.append((f"SRCC >= MS-SSIM's + {FR_MARGIN_OVER_MS_SSIM} = "
                           f"{ms_ssim + FR_MARGIN_OVER_MS_SSIM:.3f}", srcc,
                           ms_ssim + FR_MARGIN_OVER_MS_SSIM))
        for text, value, target in checks:
            verdict = "met" if value >= target else "MISSED"
            print(f"{measure.name:<28} {text:<48} {fmt(value)}  {verdict}")


def brisque_scorer():
    """BRISQUE's score function (lower = better), or None with a note when not installed."""
    try:
        from brisque import BRISQUE
    except ImportError as error:
        print(f"note: BRISQUE skipped ({error.__class__.__name__}): pip install \".[bench]\"")
        return None

    class Brisque(BRISQUE):
        def scale_features(self, features):  # brisque 0.2.0 keeps 1-element arrays that NumPy 2 cannot float()
            return super().scale_features([np.ravel(feature)[0] for feature in features])

    return Brisque(url=False).score


def print_clive(folder: str, model, model_name: str) -> float:
    """Scores CLIVE with the model and BRISQUE; prints each split's figures and the median.
    Returns the model's median SRCC (nan without a model)."""
    records = read_dataset("csv", os.path.join(folder, "ratings.csv"))
    parts = protocol.evaluation_parts(records, "content", repeats=CLIVE_SPLITS)
    measures = {}
    if model is not None:
        scorer = Scorer(model)
        measures[f"NR model {os.path.basename(model_name)}"] = [
            scorer(read_image(r.distorted)).score for r in tqdm(records, desc="CLIVE model", file=sys.stderr)]
    brisque = brisque_scorer()
    if brisque is not None:
        measures["-BRISQUE (LIVE-trained)"] = [
            -float(brisque(read_image(r.distorted).astype(np.uint8))) for r in tqdm(records, desc="CLIVE BRISQUE", file=sys.stderr)]
    print(f"\nAuthentic distortions: CLIVE ({len(records)} photos), test parts of {CLIVE_SPLITS} "
          "random 80/20 splits, then the median")
    median = math.nan
    for name, scores in measures.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LogisticFitWarning)
            rows = protocol.evaluate_parts(dict(zip(records, scores)), parts)
        print(f"{name:<28} " + " ".join(f"{row['split']:>6}" for row in rows))
        print(f"{'  SRCC':<28} " + " ".join(f"{fmt(row['srcc']):>6}" for row in rows))
        print(f"{'  PLCC':<28} " + " ".join(f"{fmt(row['plcc']):>6}" for row in rows))
        if name.startswith("NR model"):
            median = rows[-1]["srcc"]
    return median


def report(root: str, args: argparse.Namespace) -> None:
    records = read_dataset("kadid10k", root)
    labels = np.array([record.raw_score for record in records], np.float64)
    measures = [Measure("human label", "label", labels)]
    measures += [classic_measure(name, records) for name in CLASSIC_METRICS]
    models = {}
    for kind, name in (("fr", args.fr_model), ("nr", args.nr_model)):
        if name:
            models[kind] = iqa_keras.load(name)
            measures.append(model_measure(models[kind], name, kind, records))
        else:
            print(f"note: no --{kind}-model given: the {kind.upper()} model is skipped")
    summary = print_overall(measures, records, labels)
    print_per_type(measures, records, labels)
    if isinstance(models.get("nr"), HallucinatedIQA):
        print_restoration(os.path.basename(args.nr_model), restoration(models["nr"], records))
    clive = print_clive(args.clive, models.get("nr"), args.nr_model) if args.clive else math.nan
    print_targets(summary)
    if "nr" in models and args.clive:
        verdict = "met" if clive >= CLIVE_SRCC_TARGET else "MISSED"
        print(f"{'NR model on CLIVE':<28} {f'median SRCC >= {CLIVE_SRCC_TARGET}':<48} {fmt(clive)}  {verdict}")


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.data:
        if not os.path.isdir(args.data):
            sys.exit(f"No dataset folder at {args.data}")
        print(f"dataset: {args.data} (given with --data; held-out status not checked)")
        report(args.data, args)
        return
    with tempfile.TemporaryDirectory(prefix="iqa_accuracy_") as temporary:
        report(generated_dataset(args, temporary), args)


if __name__ == "__main__":
    main()
