"""The ``kerasette`` command (also ``python -m kerasette``).

    kerasette run SCRIPT [ARGS...]     run a script written for Keras 1, 2 or 3, unmodified
    kerasette inspect FILE [--json]    what a model file holds, without building the model
    kerasette convert IN OUT           rewrite a model file as .keras, .h5 or .weights.h5

Exit codes: ``run`` exits as the script does (0, its ``sys.exit`` code, 1 after an uncaught
exception, with the traceback printed as ``python SCRIPT`` prints it). ``inspect`` and
``convert`` exit 0 when done, 1 for a file they cannot read or write, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import traceback

from kerasette.keras_alias import install_keras_alias

BAD_FILE, USAGE = 1, 2
OUTPUT_SUFFIXES = (".keras", ".h5", ".hdf5", ".weights.h5")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kerasette", description="kerasette: run Keras scripts, inspect and "
                                     "convert model files.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run a Keras 1/2/3 script unmodified: `import keras` imports kerasette",
                              description="Runs SCRIPT with ARGS as `python SCRIPT ARGS` would, with `import keras` "
                              "and `tensorflow.keras` served by kerasette.")
    run.add_argument("script", help="the Python script")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    inspect = commands.add_parser("inspect", help="print what a model file holds",
                                  description="Prints a model file's format, writer, layers, weights, optimizer "
                                  "and training config, without building the model.")
    inspect.add_argument("file", help="a .keras, .h5/.hdf5 or .weights.h5 file")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    convert = commands.add_parser("convert", help="rewrite a model file as .keras, .h5 or .weights.h5",
                                  description="Loads IN (any file kerasette can load) and writes it to OUT in the "
                                  "format OUT's name says: .keras (Keras 3), .h5/.hdf5 (legacy) or .weights.h5.")
    convert.add_argument("input", metavar="IN")
    convert.add_argument("output", metavar="OUT")
    flips = convert.add_mutually_exclusive_group()
    flips.add_argument("--flip-kernels", dest="flip", action="store_true", default=None,
                       help="flip Theano-trained convolution kernels (default: decide from the file)")
    flips.add_argument("--no-flip-kernels", dest="flip", action="store_false",
                       help="load convolution kernels as stored")
    return parser


def _error(command: str, message: str, code: int) -> int:
    print(f"kerasette {command}: {message}", file=sys.stderr)
    return code


_HIDDEN = (os.path.abspath(__file__), os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_alias.py"),
           os.path.abspath(runpy.__file__))


def _print_script_traceback(exc: BaseException) -> None:
    """Prints ``exc`` as ``python SCRIPT`` would: the frames of this command, of runpy and of the
    import hook are left out."""
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    report.stack = traceback.StackSummary.from_list(
        [frame for frame in report.stack
         if os.path.abspath(frame.filename) not in _HIDDEN and not frame.filename.startswith("<frozen runpy")])
    print("".join(report.format()), end="", file=sys.stderr)


def run_script(script: str, args: list[str]) -> int:
    """Runs ``script`` as ``__main__`` with ``sys.argv = [script, *args]`` and the Keras alias."""
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        return _error("run", f"can't open file {script!r}: no such file", USAGE)
    install_keras_alias()
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(path))
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - printed as Python prints an uncaught exception
        _print_script_traceback(exc)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def inspect_file(path: str, as_json: bool) -> int:
    from kerasette.saving import CheckpointError  # deferred: h5py is imported by the commands that read files
    from kerasette.saving.describe import describe, format_text  # deferred: as above

    try:
        info = describe(path)
    except (CheckpointError, FileNotFoundError, IsADirectoryError) as exc:
        return _error("inspect", str(exc), BAD_FILE)
    print(json.dumps(info, indent=1) if as_json else format_text(info))
    return 0


def convert_file(source: str, target: str, flip: bool | None) -> int:
    from kerasette.saving import CheckpointError, load_model  # deferred: as in inspect_file

    name = target.lower()
    if not name.endswith(OUTPUT_SUFFIXES):
        return _error("convert", f"OUT must end in {', '.join(OUTPUT_SUFFIXES)} (that names the format); "
                      f"received {target!r}", USAGE)
    try:
        model = load_model(source, flip_kernels=flip)
        if name.endswith(".weights.h5"):
            model.save_weights(target)
        else:
            model.save(target)
    except (CheckpointError, FileNotFoundError, IsADirectoryError) as exc:
        return _error("convert", str(exc), BAD_FILE)
    print(f"wrote {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return run_script(args.script, args.args)
    try:
        if args.command == "inspect":
            return inspect_file(args.file, args.json)
        return convert_file(args.input, args.output, args.flip)
    except BrokenPipeError:  # `kerasette inspect FILE | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
