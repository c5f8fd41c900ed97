"""Peak memory and time of scoring large pairs tile by tile, next to scoring smaller ones whole.

Run: `python bench/tiling_memory_bench.py [--size 4096] [--tile-size 1024] [--min-free-gb 16]`

The issue: "large images are scored tile by tile with bounded memory (a 4096x4096 pair
must not need more than a few GB)". With the default small `SiameseDifferenceIQA`
(random weights) and `iqa_keras.tiling.Scorer`, each configuration runs in a fresh
subprocess, so that peaks do not mask each other:

- a `--size` x `--size` pair scored in tiles (`Scorer(model, tile_size=--tile-size)`,
  default overlap of 64 pixels);
- a `--tile-size` x `--tile-size` pair scored whole (one tile's worth of pixels);
- a pair of twice that side scored whole, without tiling (`tile_size` as large as the
  image), only when the machine has at least `--min-free-gb` GB of memory available.

Each subprocess builds the model and the scorer and makes the random pair (a reference
and a noisy copy, float32 0-255), then scores it twice. It reports the process's peak
RSS (everything: TensorFlow, the model, the images), how far that peak rose above the
peak before scoring (what scoring itself needs), and the seconds of the first call
(which includes one-off setup such as oneDNN kernel selection) and of the second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fr_bench import peak_rss  # noqa: E402


def available_memory() -> float | None:
    """Bytes of memory available to new processes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def measure(side: int, tile_size: int) -> None:
    """Scores one random side x side pair twice; prints its figures (run in a subprocess)."""
    import keras  # imported here: the parent process stays free of TensorFlow
    import numpy as np

    from iqa_keras.models import SiameseDifferenceIQA
    from iqa_keras.tiling import Scorer

    keras.utils.set_random_seed(0)
    scorer = Scorer(SiameseDifferenceIQA(), tile_size=tile_size)
    rng = np.random.default_rng(0)
    # Made in place, in float32: temporaries would raise the peak before scoring.
    reference = rng.random((side, side, 3), dtype=np.float32)
    reference *= 255
    distorted = rng.standard_normal((side, side, 3), dtype=np.float32)
    distorted *= 10
    distorted += reference
    np.clip(distorted, 0, 255, out=distorted)
    before = peak_rss()
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        scorer(distorted, reference=reference)
        seconds.append(time.perf_counter() - start)
    print(peak_rss(), peak_rss() - before, *seconds)


def run_child(side: int, tile_size: int) -> list[float]:
    command = [sys.executable, __file__, "--measure", str(side), str(tile_size)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return [float(value) for value in result.stdout.split()[-4:]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="side of the pair scored in tiles")
    parser.add_argument("--tile-size", type=int, default=1024, help="the scorer's tile side")
    parser.add_argument(
        "--min-free-gb", type=float, default=16.0, help="available memory needed to score 2x the tile whole"
    )
    parser.add_argument("--measure", type=int, nargs=2, metavar=("SIDE", "TILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # internal: subprocess mode
        measure(*args.measure)
        return

    tile = args.tile_size
    rows = [
        (f"{args.size}x{args.size} in tiles of {tile}", args.size, tile),
        (f"{tile}x{tile} whole", tile, tile),
    ]
    free, large, skipped = available_memory(), 2 * tile, None
    if free is not None and free >= args.min_free_gb * 1e9:
        rows.append((f"{large}x{large} whole", large, large))
    else:
        known = "an unknown amount" if free is None else f"{free / 1e9:.1f} GB"
        skipped = f"{large}x{large} whole: skipped, {known} of memory available (< {args.min_free_gb:g} GB)"

    print("SiameseDifferenceIQA (small encoder), random weights; one fresh process per row")
    print(f"{'pair':<26}{'peak RSS GB':>12}{'scoring +GB':>12}{'1st call s':>11}{'2nd call s':>11}")
    results = {}
    for label, side, tile_size in rows:
        peak, grown, first, second = results[label] = run_child(side, tile_size)
        print(f"{label:<26}{peak / 1e9:12.2f}{grown / 1e9:12.2f}{first:11.2f}{second:11.2f}")
    if skipped:
        print(skipped)
    tiled, whole = (results[label][1] for label, _, _ in rows[:2])
    pixels = (args.size / tile) ** 2
    print(f"tiled {args.size}x{args.size} ({pixels:.0f}x the pixels) needs {tiled / whole:.2f}x the scoring "
          f"memory of one {tile}x{tile} pair scored whole")


if __name__ == "__main__":
    main()
