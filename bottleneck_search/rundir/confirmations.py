"""`<run>/confirmations.jsonl`: one line per architecture retrained from scratch with one seed.

The confirmation stage retrains the architectures a search ends with, several seeds each, so that
their accuracies come with a spread. Each retraining writes its weights first (atomically, under
`confirmed/<architecture key>/`) and then appends its line, so a line always has its weights and
a run killed mid-confirmation resumes without losing or repeating a retraining.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

from bottleneck_search.rundir.files import CONFIRMATION_LOG, CONFIRMED, append_line, complete_lines

# What a candidate is confirmed as: the search's best front points, and the two baselines.
FRONT = "front"
NO_BOTTLENECK = "no bottleneck"
REFERENCE = "reference"


def architecture_key(
    widths: dict[str, int | None], hyperparameters: dict[str, Any] | None = None
) -> str:
    """A short stable name for an architecture, used as its folder name: 12 hex digits. A
    model of your build (`--hypermodel`) is named by all its `hyperparameters` (its sites
    alone do not make it)."""
    text = json.dumps(hyperparameters if hyperparameters is not None else widths, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class ConfirmationRecord:
    """One architecture retrained once.

    Attributes:
        architecture: `{site: width or None}`.
        labels: why it was confirmed: `front` (with its trial id), `no bottleneck`, `reference`.
        seed: the retraining's seed.
        val_accuracy: validation accuracy at the end of training (as the recipe reads it), or
            the value of `metric` when the task is scored on another metric.
        test_accuracy: accuracy (or `metric`) on the held-out test split.
        macs, params: the architecture's cost at batch 1.
        epochs: epochs trained.
        seconds: wall time.
        weights: the weights file, relative to the run directory.
        trial_id: the search trial it confirms, for front points.
        metric: the scoring metric's epoch-log key when it is not an accuracy (`val_mae`),
            else None.
        direction: `max` or `min`: which way `metric` is better.
        hyperparameters: a search of your build's (`--hypermodel`): every value the model was
            built with; None for a space's architecture.
    """

    architecture: dict[str, int | None]
    labels: tuple[str, ...]
    seed: int
    val_accuracy: float
    test_accuracy: float
    macs: int
    params: int
    epochs: int
    seconds: float
    weights: str
    trial_id: str | None = None
    metric: str | None = None
    direction: str = "max"
    hyperparameters: dict[str, Any] | None = None

    def __post_init__(self):
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def key(self) -> str:
        return architecture_key(self.architecture, self.hyperparameters)

    @staticmethod
    def weights_path(key: str, seed: int) -> str:
        """Where the weights of the candidate `key` (`architecture_key`) retrained with `seed`
        go, relative to the run directory."""
        return os.path.join(CONFIRMED, key, f"seed-{seed}.weights.h5")


class ConfirmationLog:
    """Append-only JSON-lines log of confirmation runs (same guarantees as `TrialLog`).

    Example:

    ```python
    for record in ConfirmationLog(run_dir).read():
        print(record.labels, record.seed, record.val_accuracy, record.test_accuracy)
    ```
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = os.fspath(run_dir)
        self.path = os.path.join(self.run_dir, CONFIRMATION_LOG)

    def append(self, record: ConfirmationRecord) -> None:
        append_line(self.path, json.dumps(dataclasses.asdict(record)))

    def read(self) -> list[ConfirmationRecord]:
        """The records whose weights exist, one per (architecture, seed): the last line wins."""
        records: dict[tuple[str, int], ConfirmationRecord] = {}
        for line in complete_lines(self.path):
            record = _parse(line)
            if record is not None and os.path.isfile(os.path.join(self.run_dir, record.weights)):
                records[record.key, record.seed] = record
        return list(records.values())

    def done(self) -> set[tuple[str, int]]:
        """`(architecture key, seed)` of every recorded run."""
        return {(record.key, record.seed) for record in self.read()}


def by_architecture(
    records: Iterable[ConfirmationRecord],
) -> dict[str, list[ConfirmationRecord]]:
    """Records grouped by architecture key, in first-seen order."""
    groups: dict[str, list[ConfirmationRecord]] = {}
    for record in records:
        groups.setdefault(record.key, []).append(record)
    return groups


def _parse(line: str) -> ConfirmationRecord | None:
    if not line.strip():
        return None
    try:
        data: Any = json.loads(line)
        fields = {f.name for f in dataclasses.fields(ConfirmationRecord)}
        record = ConfirmationRecord(**{k: v for k, v in data.items() if k in fields})
    except (json.JSONDecodeError, TypeError, AttributeError):
        return None
    # The weights path is joined to the run directory: it must be the one this module writes.
    if record.weights != ConfirmationRecord.weights_path(record.key, record.seed):
        return None
    return record
