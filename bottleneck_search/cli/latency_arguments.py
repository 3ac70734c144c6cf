"""The `bottleneck-search latency` sub-command's arguments, and the latency flags of `search`."""

from __future__ import annotations

from bottleneck_search.cli import commands
from bottleneck_search.cli.values import integer, number
from bottleneck_search.policy import COSTS, LATENCY_REPEATS, RUNTIMES


def add_latency_parser(subcommands) -> None:
    """Adds `latency` to the sub-command parsers."""
    latency = subcommands.add_parser(
        "latency",
        help="measure a model's inference latency here, beside its MACs and activation memory",
    )
    source = latency.add_mutually_exclusive_group(required=True)
    source.add_argument("model", nargs="?", help="a .keras model file, timed as it is")
    source.add_argument(
        "--space",
        help="a search space (a YAML backbone, a shipped name, or a .keras model): time one of "
        "its architectures, next to its latency table's prediction when one is cached",
    )
    latency.add_argument(
        "--architecture",
        metavar="JSON",
        help="--space: the architecture file to time (default: no reduction)",
    )
    latency.add_argument("--batch-size", type=integer, default=1, help="examples per call")
    latency.add_argument("--runtime", choices=RUNTIMES, default="keras")
    latency.add_argument(
        "--threads", type=integer, help="the runtime's threads (default: its own choice)"
    )
    latency.add_argument(
        "--repeats",
        type=integer,
        default=LATENCY_REPEATS,
        help=f"calls timed after 3 warm-up calls (default {LATENCY_REPEATS})",
    )
    latency.add_argument(
        "--table",
        action="store_true",
        help="--space: measure the space's latency table when none is cached (one timing per "
        "site and width), validate it and keep it",
    )
    latency.add_argument(
        "--validate",
        type=integer,
        default=10,
        metavar="N",
        help="--table: random architectures the new table is validated on (default 10)",
    )
    latency.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    latency.add_argument(
        "--unsafe-load",
        action="store_true",
        help="allow code stored in a .keras file to run (trusted files only)",
    )
    latency.set_defaults(handler=commands.latency_command)


def add_latency_cost_arguments(search, defaults) -> None:
    """Adds `search`'s cost flags: `--cost`, the latency target and budget, and how the latency
    table measures."""
    search.add_argument(
        "--cost",
        choices=COSTS,
        default=defaults.cost,
        help="what accuracy is weighed against: MACs (closed form), or the latency the space's "
        "latency table predicts (measured here once, then cached)",
    )
    search.add_argument(
        "--target-latency",
        type=number,
        metavar="MS",
        help="--cost latency: the penalty's target, milliseconds per call (default: the "
        "reference architecture's predicted latency)",
    )
    search.add_argument(
        "--max-latency",
        type=number,
        metavar="MS",
        help="hard budget: architectures predicted slower (milliseconds per call) are never trained",
    )
    add_latency_settings(search, defaults)
    search.add_argument("--latency-runtime", choices=RUNTIMES, default=defaults.latency_runtime)


def add_latency_settings(parser, defaults) -> None:
    """Adds how a latency table measures: `--latency-batch-size` and `--latency-threads`
    (`search` and `compress`)."""
    parser.add_argument(
        "--latency-batch-size",
        type=integer,
        default=defaults.latency_batch_size,
        metavar="B",
        help="the latency table's batch size per call (default 1)",
    )
    parser.add_argument(
        "--latency-threads",
        type=integer,
        metavar="T",
        help="the latency table's threads (default: the runtime's own choice)",
    )
