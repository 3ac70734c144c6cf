"""`pareto.png`: validation accuracy against MACs (or predicted latency) for every trial, with the
Pareto front."""

from __future__ import annotations

from collections.abc import Sequence

from bottleneck_search.results.confirmed import ConfirmedArchitecture
from bottleneck_search.rundir.files import atomic_output
from bottleneck_search.rundir.trial_log import TrialRecord, completed


def plot_pareto(
    records: list[TrialRecord],
    front: list[TrialRecord],
    path: str,
    marked: dict[str, TrialRecord] | None = None,
    title: str = "",
    confirmed: Sequence[ConfirmedArchitecture] = (),
    cost: str = "macs",
    recommended: ConfirmedArchitecture | None = None,
) -> None:
    """Draws completed trials (log-scale MACs, accuracy), the front as a line, marked trials, and
    confirmed architectures as their validation mean with ± one standard deviation bars, and the
    `recommended` one as a star. With `cost="latency"` the x axis is the predicted latency
    (milliseconds) and confirmed architectures, which carry no prediction, are left out. The log
    axis is labelled at 1-2-5 steps, so a front within one decade still reads.

    Written through a temporary file and a rename, with matplotlib's Agg backend (no display).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    finished = completed(records)
    estimated = any(r.estimated for r in finished)

    def x(record) -> float:
        return record.macs if cost == "macs" else record.cost(cost) / 1000

    axes.scatter(
        [x(r) for r in finished],
        [r.value for r in finished],
        s=28,
        color="#9aa5b1",
        label="supernet estimates (not trained)" if estimated else "trials",
        zorder=2,
    )
    axes.plot(
        [x(r) for r in front],
        [r.value for r in front],
        "-o",
        color="#d1495b",
        lw=1.8,
        ms=6,
        label="estimated Pareto front" if estimated else "Pareto front",
        zorder=3,
    )
    for (label, record), marker in zip((marked or {}).items(), ("s", "D", "^"), strict=False):
        axes.scatter(
            [x(record)],
            [record.value],
            marker=marker,
            s=90,
            facecolors="none",
            edgecolors="#00798c",
            linewidths=2,
            label=label,
            zorder=4,
        )
    if confirmed and cost == "macs":
        axes.errorbar(
            [row.macs for row in confirmed],
            [row.val_mean for row in confirmed],
            yerr=[row.val_std for row in confirmed],
            fmt="o",
            color="#edae49",
            ecolor="#a0740f",
            elinewidth=1.5,
            capsize=4,
            ms=7,
            label="confirmed: mean ± 1 std over seeds",
            zorder=5,
        )
    if recommended is not None and cost == "macs":
        axes.scatter(
            [recommended.macs],
            [recommended.val_mean],
            marker="*",
            s=260,
            color="#2e4057",
            label="recommended",
            zorder=6,
        )
    axes.set_xscale("log")
    _label_log_axis(axes.xaxis)
    axes.set_xlabel(
        "multiply-accumulates per image (MACs, log scale)"
        if cost == "macs"
        else "predicted latency per call (ms, log scale; the run's latency table)"
    )
    name = finished[0].value_name if finished else "val_accuracy"
    accuracy = name == "val_accuracy"
    axes.set_ylabel("validation accuracy (fraction)" if accuracy else f"{name} (validation)")
    axes.set_title(title or f"{'accuracy' if accuracy else name} vs MACs")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="best", fontsize=8, framealpha=0.6)
    figure.tight_layout()
    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")


def _label_log_axis(axis) -> None:
    """Ticks at 1, 2 and 5 of each decade, labelled in engineering notation (`200k`, `1.5M`):
    matplotlib's default labels only the decades, which a front inside one decade never
    reaches."""
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(EngFormatter(places=0, sep=""))
    axis.set_minor_formatter(NullFormatter())
