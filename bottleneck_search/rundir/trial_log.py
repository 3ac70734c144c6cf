"""`<run>/trials.jsonl`: one JSON line per finished trial, appended so that a crash never leaves a
partial line that reads back as a trial."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bottleneck_search.space.architecture import Architecture

from bottleneck_search.ranking import nondominated_fronts
from bottleneck_search.rundir.confirmations import architecture_key
from bottleneck_search.rundir.files import REFUSED, append_line, complete_lines

TRIAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# `TrialRecord.source` of an architecture a one-shot search scored with its supernet's weights.
SUPERNET_SOURCE = "supernet"
# `TrialRecord.source` of a candidate of `compress`: fine-tuned from a trained model's warm start.
COMPRESS_SOURCE = "compress"


class TrialStatus(enum.StrEnum):
    """How a trial ended. A `str`, so `record.status == "COMPLETED"` holds and JSON stays plain.

    Example:

    ```python
    completed = [r for r in load_run(run_dir).records if r.status == TrialStatus.COMPLETED]
    ```
    """

    COMPLETED = "COMPLETED"
    INFEASIBLE = "INFEASIBLE"  # over the MAC budget, never trained
    FAILED = "FAILED"


# When a distributed run's directories hold one trial twice, the better outcome wins.
_PRECEDENCE = {TrialStatus.FAILED: 0, TrialStatus.INFEASIBLE: 1, TrialStatus.COMPLETED: 2}


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One finished trial.

    Attributes:
        trial_id: Keras Tuner's trial id.
        status: `COMPLETED`, `FAILED` or `INFEASIBLE` (over the MAC budget, never trained).
        architecture: `{site: width or None}`.
        macs, flops, params: the architecture's cost at batch 1.
        val_accuracy: validation accuracy at the best epoch (None unless completed).
        score: the penalised score at the best epoch (None if failed).
        epochs: epochs trained.
        seconds: wall time of the trial.
        reason: why a trial failed or was rejected.
        parent_trial_id, mutation: for an evolutionary search, the trial this one mutated and
            how (`mix1_3x3: off -> 16`), or how it joined the initial population (joined from
            the run's `lineage.jsonl` when the run is read; see `read_lineage`).
        metric: for a task scored on something else than accuracy (a loss, MAE: Python's
            `Task`), `{"name", "value", "direction"}` of that metric; `val_accuracy` is then None.
        source: how `val_accuracy` was measured: None for a trial trained on its own, `supernet`
            for an architecture scored with a one-shot search's supernet weights (an estimate;
            `epochs` is then 0), `compress` for a candidate of `compress`: warm-started from a
            trained model and fine-tuned for `epochs` epochs (0: the warm start as it is).
        latency_us: the latency the space's latency table predicts (microseconds per call;
            None without a table).
        measured_latency_us: the trained model's latency measured at the end of its training
            with the table's settings (a search with `cost="latency"`), else None.
        worker: Keras Tuner's id of the process that trained it, in a distributed search or a
            trainer process (None otherwise); a report the chief refused from that worker
            (`refused.jsonl`) drops its line when the run is read.
        hyperparameters: for a search of your own `build(hp)` (`--hypermodel`), every value
            the trial's model was built with (`architecture` holds its sites alone); None for
            a space's trial, which `architecture` describes whole.

    Example:

    ```python
    best = load_run(run_dir).ranked()[0]
    print(best.trial_id, best.architecture, best.macs, best.val_accuracy)
    ```
    """

    trial_id: str | None
    status: TrialStatus
    architecture: dict[str, int | None]
    macs: int
    flops: int
    params: int
    val_accuracy: float | None
    score: float | None
    epochs: int
    seconds: float
    reason: str | None = None
    parent_trial_id: str | None = None
    mutation: str | None = None
    source: str | None = None
    metric: dict | None = None
    worker: str | None = None
    latency_us: float | None = None
    measured_latency_us: float | None = None
    hyperparameters: dict[str, Any] | None = None

    def __post_init__(self):
        object.__setattr__(self, "status", TrialStatus(self.status))

    @property
    def value(self) -> float | None:
        """The scoring metric's value: `val_accuracy`, or `metric["value"]` (None unless
        completed)."""
        return self.metric["value"] if self.metric is not None else self.val_accuracy

    @property
    def value_name(self) -> str:
        """The scoring metric's epoch-log key: `val_accuracy`, or `metric["name"]`."""
        return self.metric["name"] if self.metric is not None else "val_accuracy"

    def cost(self, name: str = "macs") -> float:
        """The record's cost by name: `macs`, or `latency` (predicted microseconds; infinite
        for a record without a prediction, so it never joins a latency front)."""
        if name == "macs":
            return self.macs
        return self.latency_us if self.latency_us is not None else float("inf")

    @property
    def key(self) -> str:
        """The record's architecture's name (`architecture_key`): its sites, or for a model of
        your build all its hyperparameters."""
        return architecture_key(self.architecture, self.hyperparameters)

    @property
    def estimated(self) -> bool:
        """Whether `val_accuracy` is a supernet's estimate rather than a training's result."""
        return self.source == SUPERNET_SOURCE

    @classmethod
    def of(
        cls,
        trial_id: str | None,
        status: TrialStatus,
        architecture: Architecture,
        started: float,
        **outcome,
    ) -> TrialRecord:
        """A record of `architecture` and its cost, timed from `started` (`time.monotonic()`).

        `outcome` sets `val_accuracy`, `score`, `epochs` and `reason` (None or 0 when not given).
        """
        return cls(
            trial_id=trial_id,
            status=status,
            architecture=architecture.widths,
            macs=architecture.macs,
            flops=architecture.flops,
            params=architecture.params,
            latency_us=architecture.latency_us,
            seconds=round(time.monotonic() - started, 6),
            **{"val_accuracy": None, "score": None, "epochs": 0, "reason": None, **outcome},
        )

    @classmethod
    def lost(cls, trial_id: str, reason: str) -> TrialRecord:
        """A FAILED trial whose architecture never reached `fit` (lost worker, failed `build`)."""
        return cls(trial_id, TrialStatus.FAILED, {}, 0, 0, 0, None, None, 0, 0.0, reason=reason)

    def outranks(self, other: TrialRecord) -> bool:
        """Whether this record of a trial should replace `other`, a record of the same trial from
        another directory of a distributed run (a completed record wins over a failed one)."""
        return _PRECEDENCE[self.status] >= _PRECEDENCE[other.status]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=False)

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> TrialRecord:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


def refused_reports(run_dirs: Iterable[str]) -> set[tuple[str, str]]:
    """`(trial id, worker)` of every report a distributed chief refused, read from the
    `refused.jsonl` of each of `run_dirs`: the line that worker wrote for that trial is not the
    trial's result (see `search.served.oracle_server`)."""
    pairs = set()
    for run_dir in run_dirs:
        for line in complete_lines(os.path.join(run_dir, REFUSED)):
            try:
                refusal = json.loads(line)
            except ValueError:
                continue
            if isinstance(refusal, dict) and refusal.get("trial_id") and refusal.get("worker"):
                pairs.add((str(refusal["trial_id"]), str(refusal["worker"])))
    return pairs


def completed(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """The completed trials, in their order."""
    return [r for r in records if r.status is TrialStatus.COMPLETED]


def ranked(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """The completed trials, best score first (lowest for a metric to minimise); of equal scores
    the one with fewer MACs first."""
    return sorted(
        completed(records), key=lambda r: (r.score if _minimised(r) else -r.score, r.macs)
    )


def _minimised(record: TrialRecord) -> bool:
    return record.metric is not None and record.metric.get("direction") == "min"


def scored_value(task, value: float) -> dict:
    """The `TrialRecord` fields holding a trial's scoring-metric `value` under a `Task`:
    `val_accuracy` for an accuracy, else `metric`."""
    if task.scores_accuracy:
        return {"val_accuracy": value}
    return {"metric": {"name": task.score, "value": value, "direction": task.direction}}


def nondominated(records: Iterable[TrialRecord], cost: str = "macs") -> list[TrialRecord]:
    """The completed trials no other completed trial dominates (at most its cost, at least as
    good a scoring metric in its direction, better in one), by cost; of trials tied on both the
    first is kept. `cost`: `macs`, or `latency` (predicted, see `TrialRecord.cost`)."""
    finished = [r for r in completed(records) if r.value is not None]
    if not finished:
        return []
    points = [(-r.value if _minimised(r) else r.value, r.cost(cost)) for r in finished]
    first = nondominated_fronts(points)[0]  # the package's one Pareto rule (`ranking`)
    return [finished[i] for i in sorted(first, key=lambda i: (finished[i].cost(cost), i))]


def status_counts(records: Iterable[TrialRecord]) -> dict[TrialStatus, int]:
    """How many trials ended each way, every status listed (completed, infeasible, failed)."""
    counts = dict.fromkeys(TrialStatus, 0)
    for record in records:
        counts[record.status] += 1
    return counts


def describe_counts(counts: dict[TrialStatus, int]) -> str:
    """`3 completed, 0 infeasible, 1 failed`."""
    return ", ".join(f"{n} {status.lower()}" for status, n in counts.items())


class TrialLog:
    """Append-only JSON-lines log of trials.

    Every record is written with one `write` of a complete line, then flushed to disk. A line a
    crash cut short has no newline; the next append first terminates it, and `read` skips it.

    Example:

    ```python
    log = TrialLog(f"{run_dir}/trials.jsonl")
    for record in log.read():
        print(record.trial_id, record.status, record.score)
    ```
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def append(self, record: TrialRecord) -> None:
        append_line(self.path, record.to_json())

    def read(self, refused: set[tuple[str, str]] | None = None) -> list[TrialRecord]:
        """The records in file order; a trial id seen twice (re-run after a crash) keeps its last line.

        Lines that are not a whole trial record (cut short by a crash, edited by hand, or with a
        trial id that is not a plain name) are skipped, and so are the lines of reports a chief
        refused: `(trial id, worker)` in `refused`, by default those of the `refused.jsonl`
        beside this log (see `refused_reports`).
        """
        if refused is None:
            refused = refused_reports([os.path.dirname(os.fspath(self.path))])
        records: dict[Any, TrialRecord] = {}
        anonymous = []
        for line in complete_lines(self.path):
            record = _parse(line)
            if record is None or (record.trial_id, record.worker) in refused:
                continue
            if record.trial_id is None:
                anonymous.append(record)
            else:
                records.pop(record.trial_id, None)
                records[record.trial_id] = record
        return [*records.values(), *anonymous]

    def read_by_id(self) -> dict:
        """`{trial_id: record}` of `read()`."""
        return {record.trial_id: record for record in self.read()}


def _parse(line: str) -> TrialRecord | None:
    if not line.strip():
        return None
    try:
        data = json.loads(line)
        record = TrialRecord.from_config(data)
    except (json.JSONDecodeError, TypeError, ValueError):  # ValueError: an unknown status
        return None
    # Trial ids become folder names (`trial_<id>`) in the run and in exports: never a path.
    if record.trial_id is not None and not TRIAL_ID.match(str(record.trial_id)):
        return None
    return record


def read_lineage(path: str | os.PathLike) -> dict[str, tuple[str | None, str]]:
    """`{trial_id: (parent_trial_id, mutation)}` from an evolutionary search's `lineage.jsonl`
    (empty when there is none); lines that are not whole lineage records are skipped."""
    lineage = {}
    for line in complete_lines(os.fspath(path)):
        try:
            data = json.loads(line)
            trial_id, parent, mutation = data["trial_id"], data["parent_trial_id"], data["mutation"]
        except (json.JSONDecodeError, TypeError, KeyError):
            continue
        if isinstance(trial_id, str) and isinstance(mutation, str):
            lineage[trial_id] = (parent if isinstance(parent, str) else None, mutation)
    return lineage
