"""The text a finished search prints: counts per status, the best trials and the Pareto front."""

from __future__ import annotations

from collections.abc import Sequence

from bottleneck_search.errors import SearchConfigError
from bottleneck_search.flops.report import human
from bottleneck_search.results.confirmed import summarise
from bottleneck_search.results.pareto import pareto_front
from bottleneck_search.rundir.confirmations import ConfirmationRecord
from bottleneck_search.rundir.files import read_run_config
from bottleneck_search.rundir.run import recorded_task, validation_images
from bottleneck_search.rundir.trial_log import (
    TrialRecord,
    completed,
    describe_counts,
    ranked,
    status_counts,
)
from bottleneck_search.space.architecture import short_form
from bottleneck_search.stats import interval_legend, metric_text
from bottleneck_search.training.task import at_chance


def _table(records: list[TrialRecord], val_size: int | None) -> list[str]:
    width = 22 if val_size else 7
    timed = any(r.latency_us is not None for r in records)
    latency = f"  {'ms pred':>8}" if timed else ""
    lines = [
        f"{'trial':>6}  {'MACs':>9}{latency}  {'params':>8}  {_heading(records):>{width}}  {'score':>6}  architecture"
    ]
    for r in records:
        accuracy = metric_text(r.value_name, r.value, val_size).split(" ", 1)[1]
        latency = f"  {r.latency_us / 1000:>8.3f}" if timed else ""
        lines.append(
            f"{r.trial_id:>6}  {human(r.macs):>9}{latency}  {human(r.params):>8}  {accuracy:>{width}}  {r.score:>6.3f}  {short_form(r.architecture)}"
        )
    return lines


def _heading(records: list[TrialRecord]) -> str:
    name = records[0].value_name if records else "val_accuracy"
    return "val_acc" if name == "val_accuracy" else name


def search_summary(
    run_dir: str,
    records: Sequence[TrialRecord],
    top: int = 5,
    confirmations: Sequence[ConfirmationRecord] = (),
) -> str:
    """Counts per status, the best `top` trials by score, the accuracy-vs-MACs Pareto front, and
    what the confirmation runs found.

    Example:

    ```python
    run = load_run(run_dir)
    print(search_summary(run.path, run.records))
    ```
    """
    lines = [
        "",
        f"run {run_dir}: {len(records)} trials ({describe_counts(status_counts(records))})",
    ]
    finished = completed(records)
    if not finished:
        lines.append("no trial completed; nothing to rank.")
        return "\n".join(lines)
    val_size = validation_images(run_dir)
    unlearned = nothing_learned(run_dir, finished, val_size)
    if unlearned:
        return "\n".join([*lines, "", unlearned])
    lines += [
        "",
        f"best {min(top, len(finished))} by score:",
        *_table(ranked(records)[:top], val_size),
    ]
    cost = (read_run_config(run_dir) or {}).get("arguments", {}).get("cost") or "macs"
    against = "predicted latency" if cost == "latency" else "MACs"
    front = pareto_front(records, cost)
    lines += ["", f"Pareto front (val accuracy vs {against}):", *_table(front, val_size)]
    lines += ["", interval_legend(val_size)]
    if any(r.estimated for r in finished):
        lines += [
            "These accuracies are the supernet's estimates (--strategy oneshot): they rank "
            "architectures; quote the confirmed, retrained ones."
        ]
    confirmation = summarise(list(confirmations))
    if confirmation is not None:
        seeds = max(row.seeds for row in confirmation.rows)
        lines += ["", f"confirmed ({len(confirmation.rows)} architectures, up to {seeds} seeds):"]
        lines += [
            f"{human(row.macs):>9}  val {row.val_mean:.4f} ± {row.val_std:.4f}  test "
            f"{row.test_mean:.4f} ± {row.test_std:.4f}  {', '.join(row.labels)}  "
            f"[{short_form(row.architecture)}]"
            for row in confirmation.rows
        ]
        lines += ["", *confirmation.sentences()]
    return "\n".join(lines)


def nothing_learned(run_dir: str, finished: Sequence[TrialRecord], val_size: int | None) -> str:
    """A paragraph when every completed trial scored within chance (a search that learned nothing
    recommends nothing), else ''."""
    try:
        record = read_run_config(run_dir)
    except SearchConfigError:
        return ""
    classes = (record.get("dataset") or {}).get("classes")
    accuracies = [r.val_accuracy for r in finished if r.val_accuracy is not None]
    if not (classes and val_size and accuracies):
        return ""
    clause = at_chance(max(accuracies), classes, val_size, recorded_task(record))
    if clause is None:
        return ""
    return (
        f"Nothing was learned: every trial's validation accuracy (best {max(accuracies):.3f}) is "
        f"{clause} No architecture is recommended."
    )
