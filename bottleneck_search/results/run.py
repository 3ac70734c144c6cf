"""Reading a finished (or running) run directory: its config, trials and search space."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from bottleneck_search.errors import BottleneckSearchError, ResultsError
from bottleneck_search.search.run_dir import CONFIG
from bottleneck_search.search.trial_log import TrialLog, TrialRecord
from bottleneck_search.search.tuners import TRIAL_LOG
from bottleneck_search.space.search_space import SearchSpace

CHECKPOINT = "checkpoint.weights.h5"  # Keras Tuner's best-epoch weights, in trial_<id>/


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory as written by `run_search`.

    Attributes:
        path: the run directory.
        config: the content of `config.json`.
        records: the trials of `trials.jsonl`.
    """

    path: str
    config: dict[str, Any]
    records: tuple[TrialRecord, ...]

    @property
    def completed(self) -> list[TrialRecord]:
        return [r for r in self.records if r.status == "COMPLETED"]

    def ranked(self) -> list[TrialRecord]:
        """Completed trials, best score first (ties: lower MACs first)."""
        return sorted(self.completed, key=lambda r: (-r.score, r.macs))

    def checkpoint(self, trial_id: str) -> str:
        return os.path.join(self.path, f"trial_{trial_id}", CHECKPOINT)

    def space(self) -> SearchSpace:
        """Rebuilds the run's search space from its recorded arguments (with the data's class count)."""
        from bottleneck_search.search.job import SearchConfig, load_search_space

        arguments = self.config.get("arguments", {})
        fields = {f.name for f in dataclasses.fields(SearchConfig)}
        config = SearchConfig(**{k: v for k, v in arguments.items() if k in fields})
        classes = self.config.get("dataset", {}).get("classes")
        try:
            space = load_search_space(config, classes=classes if config.model is None else None)
        except BottleneckSearchError as error:
            raise ResultsError(
                f"Run '{self.path}': its search space cannot be rebuilt: {error}"
            ) from error
        recorded = self.config.get("space", {}).get("sha256")
        if recorded and space.source.get("sha256") != recorded:
            raise ResultsError(
                f"Run '{self.path}': the space file {space.source.get('path')} changed since the search "
                "(its sha256 differs from config.json); restore the original file to export or report."
            )
        return space


def load_run(path: str | os.PathLike) -> Run:
    """Reads a run directory.

    Raises:
        ResultsError: not a run directory, `config.json` missing or corrupted, or no trials file.

    Example:

    ```python
    run = load_run("runs/demo")
    print(len(run.completed), run.ranked()[0].architecture)
    ```
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ResultsError(f"Run directory '{path}' does not exist.")
    config_path = os.path.join(path, CONFIG)
    if not os.path.isfile(config_path):
        raise ResultsError(f"'{path}' is not a run directory: it has no {CONFIG}.")
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsError(f"'{config_path}' is corrupted ({error}).") from error
    if not isinstance(config, dict):
        raise ResultsError(f"'{config_path}' is corrupted (not a JSON object).")
    log_path = os.path.join(path, TRIAL_LOG)
    if not os.path.isfile(log_path):
        raise ResultsError(f"Run '{path}' has no {TRIAL_LOG}: no trial has finished yet.")
    records = tuple(TrialLog(log_path).read())
    return Run(path=path, config=config, records=records)


def require_completed(run: Run) -> list[TrialRecord]:
    completed = run.completed
    if not completed:
        counts = ", ".join(
            f"{s.lower()} {sum(r.status == s for r in run.records)}"
            for s in ("FAILED", "INFEASIBLE")
        )
        raise ResultsError(
            f"Run '{run.path}' has no completed trials ({len(run.records)} readable trials: {counts}); "
            "nothing to report or export. Let the search finish (--resume) first."
        )
    return completed
