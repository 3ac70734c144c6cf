"""The text a finished search prints: best trials and the Pareto front."""

from __future__ import annotations

from bottleneck_search.flops.report import human
from bottleneck_search.results.pareto import pareto_front
from bottleneck_search.search.job import SearchResult
from bottleneck_search.search.trial_log import TrialRecord
from bottleneck_search.space.architecture import short_form


def _table(records: list[TrialRecord]) -> list[str]:
    lines = [
        f"{'trial':>6}  {'MACs':>9}  {'params':>8}  {'val_acc':>7}  {'score':>6}  architecture"
    ]
    for r in records:
        lines.append(
            f"{r.trial_id:>6}  {human(r.macs):>9}  {human(r.params):>8}  {r.val_accuracy:>7.3f}  {r.score:>6.3f}  {short_form(r.architecture)}"
        )
    return lines


def search_summary(result: SearchResult, top: int = 5) -> str:
    """Counts per status, the best trials by score, and the accuracy-vs-MACs Pareto front."""
    counts = {
        status: sum(r.status == status for r in result.records)
        for status in ("COMPLETED", "INFEASIBLE", "FAILED")
    }
    lines = [
        "",
        f"run {result.run_dir}: {len(result.records)} trials ("
        + ", ".join(f"{n} {s.lower()}" for s, n in counts.items())
        + ")",
    ]
    if not result.completed:
        lines.append("no trial completed; nothing to rank.")
        return "\n".join(lines)
    lines += ["", f"best {min(top, len(result.completed))} by score:", *_table(result.best(top))]
    lines += ["", "Pareto front (val accuracy vs MACs):", *_table(pareto_front(result.records))]
    return "\n".join(lines)
