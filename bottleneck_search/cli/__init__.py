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
from bottleneck_search.process import import_tensorflow_quietly

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bottleneck-search` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if args.backend is not None:  # before anything imports Keras, which reads it once
        os.environ["KERAS_BACKEND"] = args.backend
    try:
        # A job's arguments are checked before TensorFlow loads (tens of seconds on a small
        # machine): a mistyped flag is refused at once.
        config_from = getattr(args, "config_from", None)
        args.config = config_from(vars(args)) if config_from is not None else None
        if not args.debug:
            import_tensorflow_quietly()
        return args.handler(args)
    except BottleneckSearchError as error:
        if args.debug:
            raise
        flag = _flag_given(error.argument, argv)
        where = f"argument {flag}: " if flag else ""
        print(f"bottleneck-search {args.command}: error: {where}{error}", file=sys.stderr)
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


def _flag_given(argument: str | None, argv: Sequence[str]) -> str | None:
    """The flag of the refused Python `argument` (`max_trials` -> `--max-trials`) when the user
    gave it on the command line, so the message names what they typed; None otherwise."""
    if argument is None:
        return None
    flag = "--" + argument.replace("_", "-")
    return flag if any(word == flag or word.startswith(flag + "=") for word in argv) else None
