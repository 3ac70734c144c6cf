"""The `bottleneck-search compress` sub-command's arguments; defaults come from `CompressConfig`."""

from __future__ import annotations

from types import SimpleNamespace

from bottleneck_search.cli import commands
from bottleneck_search.cli.latency_arguments import add_latency_settings
from bottleneck_search.cli.values import (
    add_data_arguments,
    add_task_arguments,
    integer,
    macs_count,
    number,
    parse_widths,
)
from bottleneck_search.compress.config import CompressConfig


def add_compress_parser(subcommands) -> None:
    """Adds `compress` to the sub-command parsers."""
    defaults = SimpleNamespace(**CompressConfig.default_arguments())
    compress = subcommands.add_parser(
        "compress",
        help="compress a trained .keras model to a MAC budget: warm-started reductions, fine-tuning",
    )
    compress.add_argument("model", metavar="MODEL", help="the trained .keras model")
    add_data_arguments(compress, defaults)
    add_task_arguments(compress, defaults)
    budget = compress.add_mutually_exclusive_group(required=True)
    budget.add_argument("--max-macs", type=macs_count, help="the budget: MACs per image")
    budget.add_argument(
        "--macs-ratio",
        type=number,
        metavar="R",
        help="the budget: R times fewer MACs than the model (R > 1)",
    )
    budget.add_argument(
        "--max-latency",
        type=number,
        metavar="MS",
        help="the budget: milliseconds per call, as the model's latency table predicts them "
        "(measured here once, then cached)",
    )
    budget.add_argument(
        "--latency-ratio",
        type=number,
        metavar="R",
        help="the budget: R times faster than the model, predicted (R > 1)",
    )
    add_latency_settings(compress, defaults)
    compress.add_argument(
        "--finetune-epochs",
        type=integer,
        default=defaults.finetune_epochs,
        metavar="E",
        help=f"epochs each candidate is fine-tuned; 0: the warm start as is "
        f"(default {defaults.finetune_epochs})",
    )
    compress.add_argument(
        "--candidates",
        type=integer,
        default=defaults.candidates,
        metavar="K",
        help=f"candidates fine-tuned; the best by validation wins (default {defaults.candidates})",
    )
    compress.add_argument(
        "--widths",
        type=parse_widths,
        default=defaults.widths,
        help="reduction widths offered: fractions of a site's input channels or counts "
        f"(default {','.join(str(w) for w in defaults.widths)})",
    )
    compress.add_argument(
        "--learning-rate",
        type=number,
        default=defaults.learning_rate,
        help=f"fine-tuning's peak learning rate (default {defaults.learning_rate:g})",
    )
    compress.add_argument("--run-dir", help="run directory (default runs/compress-<model>-<time>)")
    compress.set_defaults(
        handler=commands.compress_command, config_from=CompressConfig.from_arguments
    )
