"""The `bottleneck-search` argument parser. Search defaults come from `SearchConfig`, and the
choices from the tuner, penalty and strategy tables, so the flags never drift from the library."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

from bottleneck_search.cli import commands
from bottleneck_search.cli.compress_arguments import add_compress_parser
from bottleneck_search.cli.latency_arguments import add_latency_cost_arguments, add_latency_parser
from bottleneck_search.cli.values import (
    add_data_arguments,
    add_task_arguments,
    integer,
    macs_count,
    number,
    parse_shape,
    parse_widths,
)
from bottleneck_search.policy import (
    MODES,
    ONESHOT_EVALUATIONS,
    STRATEGIES,
    TRIALS_PER_TRAINER,
    TUNERS,
)
from bottleneck_search.recipe import SCHEDULES
from bottleneck_search.rundir.config import SearchConfig

_DEFAULTS = SimpleNamespace(**SearchConfig().arguments())  # the flat arguments' defaults
BACKENDS = ("tensorflow", "jax", "torch")


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
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="the Keras backend (default: $KERAS_BACKEND, else tensorflow)",
    )
    subcommands = parser.add_subparsers(dest="command", required=True)

    flops = subcommands.add_parser(
        "flops", help="count MACs, FLOPs and parameters of a model, layer by layer"
    )
    flops.add_argument("model", nargs="?", help="a .keras model file")
    flops.add_argument(
        "--application",
        metavar="NAME",
        help="a keras.applications model, e.g. ResNet50 (weights=None)",
    )
    flops.add_argument(
        "--input-shape",
        type=parse_shape,
        metavar="H,W,C",
        help="the shape of one example: for --application, or to fill a model's free dimensions",
    )
    flops.add_argument(
        "--example", action="store_true", help="the GoogLeNet 5x5 seed example of the README"
    )
    flops.add_argument("--batch-size", type=integer, default=1)
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
    flops.set_defaults(handler=commands.flops_command)

    space = subcommands.add_parser(
        "space", help="show a search space: sites, choices, size and cost range"
    )
    space.add_argument(
        "spec", help="a YAML backbone, a shipped one by name (e.g. googlenet), or a .keras model"
    )
    space.add_argument(
        "--architecture", metavar="JSON", help="also check and cost this architecture file"
    )
    space.add_argument(
        "--unsafe-load",
        action="store_true",
        help="allow code stored in a .keras file to run (trusted files only)",
    )
    space.set_defaults(handler=commands.space_command)

    search = subcommands.add_parser("search", help="run (or resume) a bottleneck search")
    source = search.add_mutually_exclusive_group()
    source.add_argument(
        "--space",
        default=_DEFAULTS.space,
        help=f"a YAML backbone, or a shipped one by name (default {_DEFAULTS.space})",
    )
    source.add_argument("--model", help="a .keras model to search instead of a YAML backbone")
    source.add_argument(
        "--hypermodel",
        metavar="FILE.py:FUNCTION",
        help="your own Keras Tuner build(hp) to search instead (or package.module:FUNCTION): "
        "its compile and hyperparameters are kept, its bottleneck_conv calls are the sites",
    )
    add_data_arguments(search, _DEFAULTS)
    add_task_arguments(search, _DEFAULTS)
    search.add_argument(
        "--warm-start",
        action="store_true",
        help="--model: start every architecture from the model's trained weights (low-rank "
        "reductions); default: every architecture from scratch, frozen layers kept",
    )
    search.add_argument(
        "--include-frozen",
        action="store_true",
        help="--model: let frozen convs be sites too (a reduced one is made trainable)",
    )
    search.add_argument(
        "--widths",
        type=parse_widths,
        help="--model: reduction widths offered, fractions of a site's input channels or counts "
        "(default 0.25,0.5)",
    )
    search.add_argument(
        "--min-kernel-size",
        type=integer,
        default=_DEFAULTS.min_kernel_size,
        help="--model: the smallest conv kernel that is a site (default 3)",
    )
    search.add_argument(
        "--round-to",
        type=integer,
        metavar="N",
        help="--model: round fractional widths to a multiple of N (default 8; hardware runs "
        "multiples of 8 or 16 channels faster)",
    )
    search.add_argument("--tuner", default=_DEFAULTS.tuner, choices=list(TUNERS))
    search.add_argument("--max-trials", type=integer, default=_DEFAULTS.max_trials)
    search.add_argument(
        "--population-size",
        type=integer,
        metavar="N",
        help="--tuner evolution: trials in the initial and the living population (default 8, or "
        "half of --max-trials when smaller; from 2 to --max-trials)",
    )
    search.add_argument(
        "--epochs",
        type=integer,
        default=_DEFAULTS.epochs,
        help="epochs per trial (Hyperband: the maximum)",
    )
    search.add_argument(
        "--learning-rate",
        type=number,
        default=_DEFAULTS.learning_rate,
        help=f"Adam's peak learning rate (default {_DEFAULTS.learning_rate:g})",
    )
    search.add_argument(
        "--schedule",
        default=_DEFAULTS.schedule,
        choices=list(SCHEDULES),
        help="cosine (default): warm-up, then cosine decay to 0 over each trial; constant",
    )
    search.add_argument(
        "--score-epochs",
        type=integer,
        default=_DEFAULTS.score_epochs,
        help="score each trial on the mean validation accuracy of its last N epochs (default 1)",
    )
    search.add_argument(
        "--confirm",
        type=integer,
        metavar="K",
        help="after the search, retrain the K best Pareto-front architectures, no bottleneck and "
        "the reference from scratch with several seeds; 0: no confirmation (default 3, 2 on digits)",
    )
    search.add_argument(
        "--confirm-seeds",
        type=integer,
        metavar="S",
        help="seeds per confirmed architecture (default 3, 2 on digits)",
    )
    search.add_argument("--penalty", default=_DEFAULTS.penalty, choices=list(MODES))
    search.add_argument(
        "--target-macs",
        type=macs_count,
        help="penalty target (default: the space's reference MACs)",
    )
    search.add_argument(
        "--max-macs", type=macs_count, help="hard budget: architectures above it are never trained"
    )
    add_latency_cost_arguments(search, _DEFAULTS)
    search.add_argument("--run-dir", help="run directory (default runs/<space>-<time>)")
    search.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    search.add_argument(
        "--max-consecutive-failures",
        type=integer,
        default=_DEFAULTS.max_consecutive_failures,
        help=f"stop once this many trials in a row have failed (default {_DEFAULTS.max_consecutive_failures})",
    )
    search.add_argument(
        "--trials-per-process",
        type=integer,
        metavar="N",
        help="run the trials in trainer processes, a fresh one every N trials; 0: in this process "
        f"(default {TRIALS_PER_TRAINER} for searches of more than {TRIALS_PER_TRAINER} trials or "
        "with --trial-timeout or --trainer-memory, else 0)",
    )
    search.add_argument(
        "--trial-timeout",
        type=number,
        metavar="SECONDS",
        help="stop a trial (build and training) that takes longer, record it as failed and go on",
    )
    search.add_argument(
        "--trainer-memory",
        type=integer,
        metavar="MIB",
        help="replace a trainer process once its peak resident memory has passed MIB",
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
        default=_DEFAULTS.worker_timeout,
        help="chief: seconds of silence after which a worker's trial is re-issued",
    )
    search.add_argument(
        "--connect-timeout",
        type=float,
        default=_DEFAULTS.connect_timeout,
        help="worker: seconds to wait for the chief (at start, and to come back after a restart)",
    )
    search.add_argument(
        "--auth-token-file",
        metavar="PATH",
        help="chief and workers: the run's token, in a file only you can read (default: "
        "$BOTTLENECK_SEARCH_TOKEN, else the chief creates RUN_DIR/auth-token)",
    )
    search.add_argument(
        "--tls-cert", metavar="PEM", help="chief: serve over TLS with this certificate (chain)"
    )
    search.add_argument("--tls-key", metavar="PEM", help="chief: the private key of --tls-cert")
    search.add_argument(
        "--tls-ca",
        metavar="PEM",
        help="worker: connect over TLS, verifying the chief's certificate against this CA",
    )
    search.add_argument(
        "--strategy",
        choices=list(STRATEGIES),
        help="; ".join(f"{name}: {what}" for name, what in STRATEGIES.items())
        + " (default: each trial trained on its own)",
    )
    search.add_argument(
        "--supernet-epochs",
        type=integer,
        help="--strategy oneshot: epochs the supernet trains (default twice --epochs)",
    )
    search.add_argument(
        "--evaluate",
        type=integer,
        metavar="N",
        help=f"--strategy oneshot: evaluate every architecture of a space of at most N, else N "
        f"chosen by evolution (default {ONESHOT_EVALUATIONS})",
    )
    search.set_defaults(handler=commands.search_command, config_from=SearchConfig.from_arguments)

    export = subcommands.add_parser(
        "export", help="export the best trials of a run: .keras, SavedModel, architecture JSON"
    )
    _add_runs_argument(export)
    chosen = export.add_mutually_exclusive_group()
    chosen.add_argument(
        "--top", type=integer, default=1, help="export the K best trials by score (default 1)"
    )
    chosen.add_argument(
        "--pareto", action="store_true", help="export every trial on the Pareto front"
    )
    export.add_argument(
        "--retrain-epochs",
        type=int,
        help="retrain each architecture from scratch on train + validation data",
    )
    export.add_argument(
        "--format",
        choices=["onnx"],
        action="append",
        default=[],
        help="also write this format (onnx: model.onnx, checked in ONNX Runtime against Keras)",
    )
    export.add_argument("--out", help="output folder (default RUN/export)")
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing output folder"
    )
    export.set_defaults(handler=commands.export_command)

    confirm = subcommands.add_parser(
        "confirm",
        help="retrain a run's best Pareto-front architectures and its baselines with several seeds",
    )
    confirm.add_argument("run", metavar="RUN", help="the run directory")
    confirm.add_argument(
        "--top", type=integer, default=3, help="front architectures to confirm (default 3)"
    )
    confirm.add_argument(
        "--seeds", type=integer, default=3, help="seeds per architecture (default 3)"
    )
    confirm.set_defaults(handler=commands.confirm_command)

    add_compress_parser(subcommands)
    add_latency_parser(subcommands)

    report = subcommands.add_parser(
        "report", help="write trials.csv, pareto.png and report.md into a run directory"
    )
    _add_runs_argument(report)
    report.set_defaults(handler=commands.report_command)
    return parser
