"""The report's section on a compress run: before and after, the sensitivity table and its plot."""

from __future__ import annotations

import json
import os

from bottleneck_search.rundir.files import (
    COMPRESSION_JSON,
    SENSITIVITY_JSON,
    SENSITIVITY_PNG,
    atomic_output,
)
from bottleneck_search.rundir.sensitivity import SensitivityTable


def compression_section(run_dir: str) -> list[str]:
    """Markdown lines for a compress run (writing `sensitivity.png`); none for another run."""
    summary_path = os.path.join(run_dir, COMPRESSION_JSON)
    table_path = os.path.join(run_dir, SENSITIVITY_JSON)
    if not (os.path.isfile(summary_path) and os.path.isfile(table_path)):
        return []
    with open(summary_path, encoding="utf-8") as handle:
        summary = json.load(handle)
    with open(table_path, encoding="utf-8") as handle:
        table = SensitivityTable.from_config(json.load(handle))
    plot_sensitivity(table, os.path.join(run_dir, SENSITIVITY_PNG))
    before, after = summary["before"], summary["after"]
    metric = summary.get("metric")  # None: accuracy
    name = metric or "accuracy"
    lines = [
        "## Compression",
        "",
        f"`{summary['model']}` compressed to a budget of {_budget(summary)} "
        f"(reductions warm-started by `{summary['method']}`, see `space.lowrank`).",
        "",
        f"| | MACs | validation {name} | test {name} |",
        "|---|---:|---:|---:|",
        f"| trained model | {before['macs']:,} | {before['val_accuracy']:.4f} | "
        f"{before['test_accuracy']:.4f} |",
        f"| compressed (trial {after['trial_id']}) | {after['macs']:,} | "
        f"{after['val_accuracy']:.4f} | {after['test_accuracy']:.4f} |",
        "",
        f"Candidates: validation {name} warm-started (all reductions in place, batch norm "
        "recalibrated) and after fine-tuning; each keeps whichever of the two is better on "
        f"validation, and the test {name} is that model's.",
        "",
        "| trial | architecture | MACs | warm start val | fine-tuned val | kept | test |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    lines += [
        f"| {row['trial_id']} | `{row['architecture']}` | {row['macs']:,} | "
        f"{row['warm_start_val_accuracy']:.4f} | {row['fine_tuned_val_accuracy']:.4f} | "
        f"{row['kept']} | {row['test_accuracy']:.4f} |"
        for row in summary["candidates"]
    ]
    lines += [
        "",
        "### Per-site sensitivity",
        "",
        f"Trained model (recalibrated): validation {name} {table.base_accuracy:.4f}. Each row "
        f"reduces one site only, warm-started, no training ({len(table.rows)} rows in "
        f"{table.seconds:.1f} s).",
        "",
        f"| site | width | MACs saved | val {name} | {_drop_heading(metric)} | val loss |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.site} | {r.width} | {r.macs_saved:,} | {r.val_accuracy:.4f} | "
        f"{_drop_scale(metric) * r.accuracy_drop:+.{2 if metric is None else 4}f} | {r.val_loss:.4f} |"
        for r in table.rows
    ]
    return [*lines, "", f"![{name} drop vs MACs saved]({SENSITIVITY_PNG})", ""]


def _drop_heading(metric: str | None) -> str:
    return "drop (points)" if metric is None else f"worse by ({metric})"


def _drop_scale(metric: str | None) -> float:
    """Accuracy drops are shown in points (x100), another metric's in its own units."""
    return 100.0 if metric is None else 1.0


def plot_sensitivity(table: SensitivityTable, path: str) -> None:
    """Accuracy drop against MACs saved, one line per site through its widths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for site in dict.fromkeys(row.site for row in table.rows):
        rows = sorted((r for r in table.rows if r.site == site), key=lambda r: r.macs_saved)
        axes.plot(
            [r.macs_saved for r in rows],
            [_drop_scale(table.metric) * r.accuracy_drop for r in rows],
            "-o",
            ms=4,
            label=site,
        )
    axes.axhline(0, color="#555555", lw=0.8)
    axes.set_xlabel("MACs saved per image (that site alone)")
    axes.set_ylabel(
        "validation accuracy drop (points)"
        if table.metric is None
        else f"how much worse {table.metric} gets"
    )
    axes.set_title("per-site sensitivity: one site reduced, warm-started, no training")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize=7, framealpha=0.6, ncol=2)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")


def _budget(summary: dict) -> str:
    if summary.get("latency_budget_us") is not None:
        return f"{summary['latency_budget_us'] / 1000:.3f} ms per call (predicted by its latency table)"
    return f"{summary['budget']:,} MACs per image"
