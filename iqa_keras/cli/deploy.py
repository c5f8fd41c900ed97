"""`iqa-keras export` and `serve`: a model as a TF Serving SavedModel (or ONNX), and served.

Example:
>>> import argparse
>>> commands = argparse.ArgumentParser(prog="iqa-keras").add_subparsers()
>>> register(commands)
>>> sorted(commands.choices)
['export', 'serve']
"""

from __future__ import annotations

import argparse
import dataclasses

from iqa_keras.cli.errors import EXIT_OK, FailedInput, UsageError
from iqa_keras.serving.limits import ServerLimits

__all__ = ["register"]


def register(commands) -> None:
    """Adds `export` and `serve` to the command's subparsers."""
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


def _run_export(arguments) -> int:
    from iqa_keras import export
    from iqa_keras.loading import load

    if arguments.format == "onnx" and arguments.version is not None:
        raise UsageError("--version numbers SavedModel folders; an ONNX export is the one file OUT")
    model = load(arguments.model, compile=False)
    if arguments.maps:
        if not hasattr(model, "with_outputs"):
            raise UsageError(f"--maps: {arguments.model} is a {type(model).__name__}, which has no quality map "
                             "(only the toolkit's learned models have one)")
        model = model.with_outputs(("score", "quality_map"))
    try:
        if arguments.format == "onnx":
            written = export.export_onnx(model, arguments.out)
        else:
            written = export.export_saved_model(model, arguments.out, version=arguments.version)
    except FileExistsError:
        raise
    except OSError as error:
        raise FailedInput(f"cannot write {arguments.out}: {error.strerror or error}") from error
    print(f"exported {arguments.model} to {written}")
    return EXIT_OK


def _run_serve(arguments) -> int:
    import logging

    from iqa_keras.serving import serve

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    limits = {field.name: getattr(arguments, field.name) for field in dataclasses.fields(ServerLimits)}
    ServerLimits(**limits)  # bad limits: a usage error, before the model loads
    try:
        serve(arguments.model_dir, port=arguments.port, grpc_port=arguments.grpc_port,
              host=arguments.host, model_name=arguments.name, **limits)
    except (ValueError, OSError) as error:  # a folder that holds no servable model, a port in use
        raise FailedInput(str(error)) from error
    return EXIT_OK
