"""The `bottleneck-search` command. Thin: each sub-command parses arguments and calls one
public function. Errors of ours become one line on stderr and their exit code (2 for bad input,
1 for a stopped search or a failed write; `--debug` shows the traceback)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence

from bottleneck_search.errors import BottleneckSearchError


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


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 224,224,3, got '{text}'"
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise argparse.ArgumentTypeError(f"dimensions must be positive, got '{text}'")
    return shape


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def _cmd_flops(args: argparse.Namespace) -> int:
    from bottleneck_search.flops import count_flops
    from bottleneck_search.model_io import build_application, load_model

    if args.example:
        from bottleneck_search.flops.seed_example import seed_example_models

        models = seed_example_models()
    elif args.application:
        models = [build_application(args.application, args.input_shape)]
    elif args.model:
        models = [load_model(args.model, unsafe_load=args.unsafe_load)]
    else:
        raise BottleneckSearchError(
            "flops needs a model: a .keras file, --application NAME, or --example."
        )
    reports = [
        (model.name, count_flops(model, batch_size=args.batch_size, strict=not args.lenient))
        for model in models
    ]
    if args.json:
        payload = (
            reports[0][1].to_dict()
            if len(reports) == 1
            else {name: r.to_dict() for name, r in reports}
        )
        print(json.dumps(payload, indent=2))
    else:
        for name, report in reports:
            print(f"== {name}")
            print(report.table())
            print()
    return 0


def _cmd_space(args: argparse.Namespace) -> int:
    from bottleneck_search.space.inspect import load_space, space_summary

    space = load_space(args.spec, unsafe_load=args.unsafe_load)
    architecture = None
    if args.architecture:
        from bottleneck_search.space.apply import read_architecture_file

        architecture, _ = read_architecture_file(args.architecture, None)
    print(space_summary(space, architecture))
    return 0


def _macs_count(text: str) -> int:
    """Parses 5000000, 5e6, 5M or 1.5G."""
    scale = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}.get(text[-1:].upper(), 1)
    number = text[:-1] if scale != 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a MAC count like 5000000, 5e6, 5M or 1.5G, got '{text}'"
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive MAC count, got '{text}'")
    return int(value)


def _cmd_search(args: argparse.Namespace) -> int:
    from bottleneck_search.search.job import SearchConfig, resolve_run_dir, run_search
    from bottleneck_search.search.summary import search_summary

    fields = dataclasses.fields(SearchConfig)
    config = SearchConfig(**{field.name: getattr(args, field.name) for field in fields})
    config = dataclasses.replace(config, run_dir=resolve_run_dir(config))
    # Keras Tuner prints the traceback of every failed trial unless told otherwise; the progress
    # line already gives the reason, and --debug or --verbose bring the tracebacks back.
    from keras_tuner.src import config as kt_config

    kt_config.DEBUG = args.debug or args.verbose
    # Objects alive after start-up (TensorFlow's, Keras') leave the garbage collector's view, which
    # makes the two full gc.collect() passes Keras Tuner runs before every trial cheap.
    gc.freeze()
    # Progress goes to the real stdout even while the chief silences Keras Tuner's prints.
    stdout = sys.stdout
    try:
        with _deferred_interrupt(enabled=config.chief is None) as interrupted:
            result = run_search(
                config,
                on_progress=lambda line: print(line, file=stdout, flush=True),
                stop_requested=interrupted.is_set,
            )
    except KeyboardInterrupt:
        if not os.path.isfile(os.path.join(config.run_dir, "config.json")):
            raise
        print(
            f"bottleneck-search search: interrupted; finished trials are kept in {config.run_dir}. "
            f"Resume with: {_resume_command(config.run_dir)}",
            file=sys.stderr,
        )
        return 130
    print(search_summary(result))
    if result.completed and config.chief is None and config.worker is None:
        from bottleneck_search.results.report import write_report

        report = write_report(result.run_dir)
        print(f"\nreport: {report.report_md}\nplot:   {report.pareto_png}")
    return 0


@contextlib.contextmanager
def _deferred_interrupt(enabled: bool = True):
    """Turns the first Ctrl-C into a request the search honours at its next batch or trial.

    Keras Tuner writes its state files in place; an interrupt while it writes them would leave a
    run that cannot be resumed. A second Ctrl-C interrupts at once. A chief trains nothing, so
    there (`enabled=False`) Ctrl-C interrupts at once.
    """
    requested = threading.Event()
    if not enabled:
        yield requested
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print(
            "bottleneck-search search: stopping at the next batch (Ctrl-C again to stop now)",
            file=sys.stderr,
        )

    signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def _resume_command(run_dir: str) -> str:
    import shlex

    words = (
        [word for word in sys.argv[1:] if word != "--resume"]
        if sys.argv[1:2] == ["search"]
        else ["search"]
    )
    if "--run-dir" not in words:
        words += ["--run-dir", run_dir]
    return shlex.join(["bottleneck-search", *words, "--resume"])


def _cmd_export(args: argparse.Namespace) -> int:
    from bottleneck_search.results.export import export_architectures

    folders = export_architectures(
        args.runs,
        out=args.out,
        top=args.top,
        pareto=args.pareto,
        retrain_epochs=args.retrain_epochs,
        overwrite=args.overwrite,
    )
    for folder in folders:
        print(folder)
    print(
        f"{len(folders)} exported; listed in {os.path.join(os.path.dirname(folders[0]), 'exports.json')}"
    )
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bottleneck_search.results.report import write_report

    print(write_report(args.runs).summary())
    return 0


def _add_runs_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="the run directory (several: a distributed run's directories)",
    )


class _Parser(argparse.ArgumentParser):
    """Reports a usage mistake in one line, like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bottleneck-search",
        description="Search where to insert 1x1 bottleneck convolutions in a Keras CNN.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    flops = commands.add_parser(
        "flops", help="count MACs, FLOPs and parameters of a model, layer by layer"
    )
    flops.add_argument("model", nargs="?", help="a .keras model file")
    flops.add_argument(
        "--application",
        metavar="NAME",
        help="a keras.applications model, e.g. ResNet50 (weights=None)",
    )
    flops.add_argument(
        "--input-shape", type=_parse_shape, metavar="H,W,C", help="input shape for --application"
    )
    flops.add_argument(
        "--example", action="store_true", help="the GoogLeNet 5x5 seed example of the README"
    )
    flops.add_argument("--batch-size", type=_positive_int, default=1)
    flops.add_argument("--json", action="store_true", help="print the report as JSON")
    flops.add_argument(
        "--lenient",
        action="store_true",
        help="count layers with no counting function as zero instead of failing",
    )
    flops.add_argument(
        "--unsafe-load",
        action="store_true",
        help="allow code stored in the model file to run (trusted files only)",
    )
    flops.set_defaults(handler=_cmd_flops)

    space = commands.add_parser(
        "space", help="show a search space: sites, choices, size and cost range"
    )
    space.add_argument("spec", help="a YAML backbone (search_spaces/*.yaml) or a .keras model")
    space.add_argument(
        "--architecture", metavar="JSON", help="also check and cost this architecture file"
    )
    space.add_argument(
        "--unsafe-load",
        action="store_true",
        help="allow code stored in a .keras file to run (trusted files only)",
    )
    space.set_defaults(handler=_cmd_space)

    search = commands.add_parser("search", help="run (or resume) a bottleneck search")
    source = search.add_mutually_exclusive_group()
    source.add_argument(
        "--space",
        default="inception_mini",
        help="a YAML backbone, or a shipped one by name (default inception_mini)",
    )
    source.add_argument("--model", help="a .keras model to search instead of a YAML backbone")
    search.add_argument(
        "--dataset", default="digits", help="digits (default), tfds:NAME[SPLIT] or folder:PATH"
    )
    search.add_argument(
        "--tuner", default="random", choices=["random", "bayesian", "hyperband", "grid"]
    )
    search.add_argument("--max-trials", type=_positive_int, default=10)
    search.add_argument(
        "--epochs", type=_positive_int, default=4, help="epochs per trial (Hyperband: the maximum)"
    )
    search.add_argument("--penalty", default="soft", choices=["soft", "hard", "linear"])
    search.add_argument(
        "--target-macs",
        type=_macs_count,
        help="penalty target (default: the space's reference MACs)",
    )
    search.add_argument(
        "--max-macs", type=_macs_count, help="hard budget: architectures above it are never trained"
    )
    search.add_argument("--run-dir", help="run directory (default runs/<space>-<time>)")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--batch-size", type=_positive_int, default=32)
    search.add_argument("--data-dir", help="TensorFlow Datasets data directory")
    search.add_argument(
        "--download", action="store_true", help="let TFDS download a data set that is not prepared"
    )
    search.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    search.add_argument(
        "--max-consecutive-failures",
        type=_positive_int,
        default=3,
        help="stop once this many trials in a row have failed (default 3)",
    )
    search.add_argument(
        "-v", "--verbose", action="store_true", help="show Keras Tuner's and Keras' own progress"
    )
    role = search.add_mutually_exclusive_group()
    role.add_argument(
        "--chief", metavar="HOST:PORT", help="serve this search to workers (runs no trials itself)"
    )
    role.add_argument("--worker", metavar="HOST:PORT", help="run trials for the chief at HOST:PORT")
    search.add_argument("--worker-id", help="this worker's id (default worker-<host>-<pid>)")
    search.add_argument(
        "--worker-timeout",
        type=float,
        default=60.0,
        help="chief: seconds of silence after which a worker's trial is re-issued",
    )
    search.add_argument(
        "--connect-timeout", type=float, default=30.0, help="worker: seconds to wait for the chief"
    )
    search.add_argument(
        "--strategy",
        choices=["mirrored"],
        help="train each trial with tf.distribute.MirroredStrategy",
    )
    search.set_defaults(handler=_cmd_search)

    export = commands.add_parser(
        "export", help="export the best trials of a run: .keras, SavedModel, architecture JSON"
    )
    _add_runs_argument(export)
    chosen = export.add_mutually_exclusive_group()
    chosen.add_argument(
        "--top", type=_positive_int, default=1, help="export the K best trials by score (default 1)"
    )
    chosen.add_argument(
        "--pareto", action="store_true", help="export every trial on the Pareto front"
    )
    export.add_argument(
        "--retrain-epochs",
        type=int,
        help="retrain each architecture from scratch on train + validation data",
    )
    export.add_argument("--out", help="output folder (default RUN/export)")
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing output folder"
    )
    export.set_defaults(handler=_cmd_export)

    report = commands.add_parser(
        "report", help="write trials.csv, pareto.png and report.md into a run directory"
    )
    _add_runs_argument(report)
    report.set_defaults(handler=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bottleneck-search` console script."""
    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
