"""The first score's wall time, next to importing TensorFlow, in fresh processes.

Run: `python bench/startup_bench.py [--rounds 3]` (the `iqa-keras` command on PATH).

Each round runs, one after the other, each in a new process:

- `python -c "import tensorflow"`: the floor every command that imports TensorFlow pays;
- `python -c "import keras"` with `KERAS_BACKEND=numpy`: a lighter backend's floor;
- `iqa-keras score -m psnr -r REF DIST` on the bundled example pair (target: <= 3 s);
- `iqa-keras score --model fr-default -r REF DIST` (target: <= 5 s).

Figures are medians over `--rounds` rounds, with each command's ratio to the TensorFlow
import measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "iqa_keras", "examples")
PAIR = ["-r", os.path.join(EXAMPLES, "reference.png"), os.path.join(EXAMPLES, "distorted_jpeg.png")]
COMMANDS = {
    "import tensorflow": ([sys.executable, "-c", "import tensorflow"], {}, None),
    "import keras (numpy backend)": ([sys.executable, "-c", "import keras"], {"KERAS_BACKEND": "numpy"}, None),
    "score -m psnr (one pair)": (["iqa-keras", "score", "-m", "psnr", *PAIR], {}, 3.0),
    "score --model fr-default (one pair)": (["iqa-keras", "score", "--model", "fr-default", *PAIR], {}, 5.0),
}


def wall_time(command: list[str], environment: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **environment})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    times = {name: [] for name in COMMANDS}
    for _ in range(arguments.rounds):
        for name, (command, environment, _) in COMMANDS.items():
            times[name].append(wall_time(command, environment))
    floor = statistics.median(times["import tensorflow"])
    print(f"medians of {arguments.rounds} rounds, fresh processes")
    for name, (_, _, target) in COMMANDS.items():
        median = statistics.median(times[name])
        verdict = "" if target is None else f"  target <= {target:.0f} s: {'met' if median <= target else 'MISSED'}"
        print(f"{name:<38} {median:6.2f} s  ({median / floor:.2f} x import tensorflow){verdict}")


if __name__ == "__main__":
    main()
