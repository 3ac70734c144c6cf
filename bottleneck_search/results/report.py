"""`write_report`: `trials.csv`, `pareto.png` and `report.md` in a run directory."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os

from bottleneck_search.flops.report import human
from bottleneck_search.results.baseline import (
    baseline_macs,
    baseline_model,
    baseline_name,
    built_model,
    layer_comparison,
    marked_trials,
)
from bottleneck_search.results.compression import compression_section
from bottleneck_search.results.confirmed import Confirmation, summarise, table
from bottleneck_search.results.latency_section import latency_section
from bottleneck_search.results.pareto import pareto_front
from bottleneck_search.results.plot import plot_pareto
from bottleneck_search.results.summary import nothing_learned
from bottleneck_search.rundir.confirmations import ConfirmationLog
from bottleneck_search.rundir.files import PARETO_PNG, REPORT_MD, TRIALS_CSV, write_atomically
from bottleneck_search.rundir.record import COMPRESS
from bottleneck_search.rundir.run import Run, load_run, require_completed
from bottleneck_search.rundir.trial_log import (
    TrialRecord,
    TrialStatus,
    describe_counts,
    status_counts,
)
from bottleneck_search.space.architecture import short_form
from bottleneck_search.stats import interval_legend, metric_text, wilson_interval


@dataclasses.dataclass(frozen=True)
class Report:
    """Where the report went and what it found.

    Attributes:
        run_dir: the run directory the report was written into.
        trials_csv, pareto_png, report_md: the three files' paths.
        best: the trial with the best score.
        front: the accuracy-vs-cost Pareto front, cheapest first.
        counts: trials by how they ended.
        val_size: validation images (for the accuracies' intervals), when known.

    Example:

    ```python
    report = write_report(run_dir)
    assert report.best in report.front and report.pareto_png.endswith("pareto.png")
    ```
    """

    run_dir: str
    trials_csv: str
    pareto_png: str
    report_md: str
    best: TrialRecord
    front: tuple[TrialRecord, ...]
    counts: dict[TrialStatus, int]
    val_size: int | None = None

    def summary(self) -> str:
        """What the `report` command prints: counts, the best trial, the front and the files."""
        return "\n".join(
            [
                f"report of {self.run_dir}: {sum(self.counts.values())} trials ({describe_counts(self.counts)})",
                f"best: trial {self.best.trial_id}  MACs {human(self.best.macs)}  {metric_text(self.best.value_name, self.best.value, self.val_size)}  score {self.best.score:.3f}",
                f"Pareto front: {len(self.front)} trials, from {human(self.front[0].macs)} to {human(self.front[-1].macs)} MACs",
                f"written: {self.trials_csv}, {self.report_md}",
                f"plot: {self.pareto_png}",
            ]
        )


def write_report(run: str | os.PathLike | list | Run) -> Report:
    """Writes `trials.csv`, `pareto.png` and `report.md` into the run directory (the first, given several).

    Args:
        run: a run directory, several (a distributed run's), or a `Run` from `load_run`.

    Returns:
        A `Report`: the files' paths, the best trial and the Pareto front.

    Raises:
        ResultsError: not a run directory, no trials file, or no completed trial.

    Example:

    ```python
    report = write_report(run_dir)
    print(report.summary())
    ```
    """
    run = run if isinstance(run, Run) else load_run(run)
    require_completed(run)
    front = pareto_front(run)
    best = run.ranked()[0]
    counts = status_counts(run.records)
    space = run.space()
    marked = marked_trials(run, space)
    confirmation = summarise(ConfirmationLog(run.path).read())

    trials_csv = os.path.join(run.path, TRIALS_CSV)
    write_atomically(trials_csv, _trials_csv(run.records, run.val_size))
    pareto_png = os.path.join(run.path, PARETO_PNG)
    plot_pareto(
        list(run.records),
        front,
        pareto_png,
        marked,
        title=f"{space.name}: validation accuracy vs {_cost_name(run)}",
        cost=run.cost,
        confirmed=confirmation.rows if confirmation else (),
        recommended=confirmation.recommended if confirmation else None,
    )
    report_md = os.path.join(run.path, REPORT_MD)
    write_atomically(report_md, _markdown(run, space, best, front, counts, confirmation))
    return Report(
        run.path, trials_csv, pareto_png, report_md, best, tuple(front), counts, run.val_size
    )


def _trials_csv(records, val_size: int | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "trial_id",
            "status",
            "architecture",
            "macs",
            "flops",
            "params",
            "val_accuracy",
            "val_accuracy_low",
            "val_accuracy_high",
            "val_images",
            "score",
            "seconds",
            "parent_trial_id",
            "mutation",
            "source",
            "metric",
            "metric_value",
            "latency_us",
            "measured_latency_us",
            "hyperparameters",
        ]
    )
    for r in records:
        interval = (
            wilson_interval(r.val_accuracy, val_size)
            if val_size and r.status is TrialStatus.COMPLETED and r.val_accuracy is not None
            else ("", "")
        )
        writer.writerow(
            [
                r.trial_id,
                r.status,
                short_form(r.architecture),
                r.macs,
                r.flops,
                r.params,
                r.val_accuracy,
                *interval,
                val_size or "",
                r.score,
                r.seconds,
                r.parent_trial_id or "",
                r.mutation or "",
                r.source or "",
                r.value_name,
                r.value,
                r.latency_us if r.latency_us is not None else "",
                r.measured_latency_us if r.measured_latency_us is not None else "",
                json.dumps(r.hyperparameters) if r.hyperparameters is not None else "",
            ]
        )
    return buffer.getvalue()


def _table(records: list[TrialRecord], val_size: int | None) -> list[str]:
    timed = any(r.latency_us is not None for r in records)
    lines = [
        f"| trial | MACs |{' ms predicted |' if timed else ''} params | {_value_heading(records)} | score | architecture |",
        f"| --- | ---: |{' ---: |' if timed else ''} ---: | ---: | ---: | --- |",
    ]
    for r in records:
        latency = f" {r.latency_us / 1000:.3f} |" if timed else ""
        lines.append(
            f"| {r.trial_id} | {r.macs:,} |{latency} {r.params:,} | {metric_text(r.value_name, r.value, val_size).split(' ', 1)[1]} | {r.score:.4f} | `{_described(r)}` |"
        )
    return lines


def _described(record: TrialRecord) -> str:
    """A trial's sites in short form, then its build's other hyperparameters (if any)."""
    text = short_form(record.architecture)
    own = {
        name: value
        for name, value in (record.hyperparameters or {}).items()
        if name.partition("/")[0] not in record.architecture
    }
    if own:
        text += "; " + ", ".join(
            f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
            for name, value in own.items()
        )
    return text


def _cost_name(run: Run) -> str:
    return "predicted latency" if run.cost == "latency" else "MACs"


def _latency(run: Run, space, best: TrialRecord, confirmation: Confirmation | None) -> list[str]:
    """The recommended (else the best) architecture timed beside no reduction."""
    if confirmation is not None:
        recommended = confirmation.recommended
        chosen, label = recommended.best_run, "recommended"
    else:
        chosen, label = best, f"best trial {best.trial_id}"
    named = "original model" if run.config.get("kind") == COMPRESS else baseline_name(space)
    arguments = run.config.get("arguments", {})
    model = built_model(space, chosen.architecture, chosen.hyperparameters)
    return latency_section(
        baseline_model(space),
        model,
        baseline_macs(space),
        chosen.macs,
        label,
        arguments,
        named,
    )


def _front_heading(records: list[TrialRecord]) -> str:
    name = records[0].value_name if records else "val_accuracy"
    return "validation accuracy" if name == "val_accuracy" else name


def _value_heading(records: list[TrialRecord]) -> str:
    name = records[0].value_name if records else "val_accuracy"
    return "val acc [95% interval]" if name == "val_accuracy" else name


def _confirmed_section(confirmation: Confirmation | None, space) -> list[str]:
    if confirmation is None:
        return [
            "## Confirmed results",
            "",
            "No confirmation runs: the scores above are single trials, one seed each. Run "
            "`bottleneck-search confirm RUN` to retrain the best architectures with several seeds.",
            "",
        ]
    return [
        "## Confirmed results",
        "",
        "Each architecture retrained from scratch with several seeds (mean ± sample standard "
        "deviation); the test split was never seen by the search. The recommendation is made on "
        "validation means.",
        "",
        *table(confirmation, baseline_macs(space)),
        "",
        *confirmation.sentences(),
        "",
    ]


def _lineage_section(run: Run, best: TrialRecord) -> list[str]:
    """For an evolutionary search: the chain of mutations from the initial population to `best`."""
    by_id = {r.trial_id: r for r in run.records}
    chain = []
    record = best
    while record is not None and record.mutation is not None and record not in chain:
        chain.append(record)
        record = by_id.get(record.parent_trial_id)
    if not chain:
        return []
    lines = [
        f"## Lineage of trial {best.trial_id}",
        "",
        f"| trial | how it came | architecture | MACs | {best.value_name} |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for r in reversed(chain):
        accuracy = f"{r.value:.3f}" if r.value is not None else r.status.lower()
        lines.append(
            f"| {r.trial_id} | {r.mutation} | {short_form(r.architecture)} | {human(r.macs)} | {accuracy} |"
        )
    return [*lines, ""]


def _estimated_note(run: Run) -> list[str]:
    """For a one-shot search: which accuracies are the supernet's estimates."""
    estimated = sum(r.estimated for r in run.records)
    if not estimated:
        return []
    return [
        f"{estimated} trials were never trained on their own: their accuracies are estimated with "
        "the supernet's weights (`--strategy oneshot`, source `supernet` in trials.csv). They "
        "rank architectures; the confirmed results, retrained from scratch, are the figures to "
        "quote.",
        "",
    ]


def _markdown(
    run: Run,
    space,
    best: TrialRecord,
    front: list[TrialRecord],
    counts: dict[str, int],
    confirmation: Confirmation | None,
) -> str:
    arguments = run.config.get("arguments", {})
    unlearned = nothing_learned(run.path, run.completed, run.val_size)
    model = run.config.get("model")
    lines = [
        f"# Bottleneck search report: {space.name}",
        "",
        *([f"**{unlearned}**", ""] if unlearned else []),
        *(
            [
                f"Model `{model['file']}` ({model['layers']} layers, sha256 `{model['sha256'][:16]}...`).",
                "",
            ]
            if model
            else []
        ),
        f"The {run.task().describe()}.",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(
            {
                "arguments": arguments,
                "penalty": run.config.get("penalty"),
                "recipe": run.config.get("recipe"),
                "dataset": run.config.get("dataset"),
                "task": run.config.get("task"),
                "versions": run.config.get("versions"),
            },
            indent=2,
        ),
        "```",
        "",
        f"Trials: {sum(counts.values())} ({describe_counts(counts)}).",
        "",
        *_estimated_note(run),
        *compression_section(run.path),
        *_confirmed_section(confirmation, space),
        *_latency(run, space, best, confirmation),
        "## Best trials by score",
        "",
        *_table(run.ranked()[:5], run.val_size),
        "",
        f"## Pareto front ({_front_heading(front)} vs {_cost_name(run)})",
        "",
        *_table(front, run.val_size),
        "",
        *(
            [interval_legend(run.val_size), ""]
            if _front_heading(front) == "validation accuracy"
            else []
        ),
        f"![{_front_heading(front).removeprefix('validation ')} vs {_cost_name(run)}](pareto.png)",
        "",
        f"## Where the savings come from: trial {best.trial_id} against {baseline_name(space)}",
        "",
        *layer_comparison(space, best),
        "",
        *_lineage_section(run, best),
    ]
    return "\n".join(lines)
