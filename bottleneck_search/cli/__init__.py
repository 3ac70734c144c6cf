"""The `bottleneck-search` command. Thin: each sub-command parses arguments and calls one
public function. Errors of ours become one line on stderr and their exit code (2 for bad input,
1 for a stopped search or a failed write; `--debug` shows the traceback).

`arguments` builds the parser (defaults and choices come from the library's own tables);
`commands` holds one function per sub-command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from bottleneck_search.cli.arguments import build_parser
from bottleneck_search.errors import BottleneckSearchError

__all__ = ["build_parser", "main"]


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up chatter silenced. CLI only; the library never does this.

    TensorFlow's native code writes oneDNN/CUDA notices straight to file descriptor 2 before its
    log level applies, so stderr is pointed at /dev/null for the duration of the import.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bottleneck-search` console script."""
    args = build_parser().parse_args(argv)
    if args.backend is not None:  # before anything imports Keras, which reads it once
        os.environ["KERAS_BACKEND"] = args.backend
    if not args.debug:
        _import_tensorflow_quietly()
    try:
        return args.handler(args)
    except BottleneckSearchError as error:
        if args.debug:
            raise
        print(f"bottleneck-search {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        # A file system failure outside the checks the commands make (a disk filling up mid-export).
        if args.debug:
            raise
        where = f" ('{error.filename}')" if error.filename else ""
        print(
            f"bottleneck-search {args.command}: error: {error.strerror or error}{where}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"bottleneck-search {args.command}: interrupted", file=sys.stderr)
        return 130
