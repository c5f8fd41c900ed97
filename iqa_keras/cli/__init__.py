"""The `iqa-keras` command: a thin layer over the library's modules.

One module per family of commands, each adding its own subcommands (`register`):
`score` (score, metrics, models), `training` (generate, train, finetune), `analysis`
(evaluate, maps), `deploy` (export, serve). A command raises; `main` prints the error and
exits with the code `errors.exit_code` gives it: 0 success, 1 a failed input (the message
names the file), 2 bad usage.

Example:
>>> main(["metrics", "--format", "csv"])  # doctest: +ELLIPSIS
name,higher_is_better,best,low,high,default_color,description
psnr,...
0
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from iqa_keras.cli import analysis, deploy, score, training
from iqa_keras.cli.errors import EXIT_USAGE, exit_code, message

__all__ = ["main"]

_COMMAND_FAMILIES = (score, training, deploy, analysis)  # in the order `--help` lists them


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
    try:
        return arguments.run(arguments)
    except Exception as error:
        code = exit_code(error)
        if code is None:  # no row of the table: a bug, with its traceback
            raise
        print(f"iqa-keras {arguments.command}: error: {message(error)}", file=sys.stderr)
        return code


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
    for family in _COMMAND_FAMILIES:
        family.register(commands)
    return parser
