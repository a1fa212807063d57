"""The ``zeroskip`` command: ``main`` parses the command line, runs one command and maps errors to exit codes.

Each command module has ``register(subparsers)``; ``build_parser`` calls them in order. Commands
return an exit code; errors are printed as one line ``zeroskip: error: ...`` (``--debug`` shows the
traceback instead).

Example:
    >>> main(["compile", "y(i) = A(i,j) * x(j)", "--format", "A=csr", "--format", "x=dense", "--emit", "expr"])
    y(i) = A(i,j) * x(j)
    0
"""

from __future__ import annotations

import argparse
import os
import sys

from zeroskip.cli import data, models, suite, sweep, tensors
from zeroskip.cli._common import (
    EXIT_CODES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MISSING,
    EXIT_OK,
    EXIT_USAGE,
    EXTRAS,
    HelpFormatter,
    UsageError,
)
from zeroskip.errors import MissingDependencyError, ParseError, ZeroskipError

COMMANDS = (suite, sweep, data, tensors, models)  # each registers its subcommands, in this order


class Parser(argparse.ArgumentParser):
    """argparse with examples kept as written, and usage errors raised (one line, exit 2) rather than exiting."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        command = self.prog.removeprefix("zeroskip").strip()
        where = f"{command}: " if command else ""
        raise UsageError(f"{where}{message}; see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (``zeroskip --help`` lists them, with the exit codes).

    Example:
        >>> sorted(build_parser().parse_args(["info", "A.mtx"]).__dict__)[:3]
        ['command', 'debug', 'format']
    """
    from zeroskip import __version__

    parser = Parser(
        prog="zeroskip",
        description="Compute with the zeros left out: tensor statistics and formats, compile and run sparse "
                    "expressions on the CPU, simulate them on a modelled sparse accelerator, prune model weights.",
        epilog="examples:\n"
               "  zeroskip info A.mtx --spy -\n"
               '  zeroskip run "y(i) = A(i,j) * x(j)" A=A.mtx x=x.npy --check\n'
               "  zeroskip COMMAND --help\n\n"
               "Commands that produce results take --json (one JSON document on stdout).\n\n" + EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"zeroskip {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    for command in sub.choices.values():
        # Accepted after the command too; SUPPRESS keeps a --debug given before it.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``zeroskip`` command line on ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return _report(exc, EXIT_USAGE)
    except SystemExit as exc:  # --help and --version print and exit 0
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    try:
        return int(args.func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print("zeroskip: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()  # the reader went away (`zeroskip ... | head`): stop quietly, as cat does
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        return _report(exc, _exit_code(exc))


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, MissingDependencyError):
        return EXIT_MISSING
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in EXTRAS:
        return EXIT_MISSING
    if isinstance(exc, (ZeroskipError, OSError)):
        return EXIT_USAGE
    return EXIT_FAILED


def _message(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in EXTRAS:
        top = exc.name.split(".")[0]
        return f"{top} is not installed: pip install 'zeroskip[{EXTRAS[top]}]'"
    if isinstance(exc, ParseError):  # one line: the column and the text instead of a caret under it
        return f"{exc.reason} at column {exc.column} of {exc.text!r}"
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, (ZeroskipError, OSError)):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"


def _report(exc: BaseException, code: int) -> int:
    # One line: a multi-line message (a parse error's caret display) is joined.
    text = "; ".join(line.strip() for line in _message(exc).splitlines() if line.strip())
    print(f"zeroskip: error: {text}", file=sys.stderr)
    return code


def _quiet_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests)
        pass


__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_MISSING", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]
