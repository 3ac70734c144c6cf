"""Reading a finished (or running) run directory: its config, trials and search space."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from bottleneck_search.argument_validation import is_count
from bottleneck_search.data import Dataset
from bottleneck_search.errors import BottleneckSearchError, ResultsError, SearchConfigError
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.files import (
    CHECKPOINT,
    CONFIG,
    LINEAGE,
    TRIAL_LOG,
    read_run_config,
    trial_folder,
)
from bottleneck_search.rundir.record import recorded_search_config
from bottleneck_search.rundir.task import (
    search_space_options,
    task_data,
    user_build_data,
    warm_started,
)
from bottleneck_search.rundir.trial_log import (
    TrialLog,
    TrialRecord,
    TrialStatus,
    completed,
    describe_counts,
    ranked,
    read_lineage,
    refused_reports,
    status_counts,
)
from bottleneck_search.space.catalog import load_search_space
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.site import ReductionOptions
from bottleneck_search.space.user_build import UserBuild
from bottleneck_search.training.task import Task


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory as written by `run_search`.

    A distributed search whose workers kept their own run directories is read from all of them
    at once: `path` is the first (where reports are written), `paths` all of them.

    Attributes:
        path: the run directory (the first of `paths`).
        config: the content of `config.json` (of the first directory that has one).
        records: the trials of every directory's `trials.jsonl`, one per trial id.
        paths: every directory read.

    Example:

    ```python
    run = load_run(run_dir)
    print(len(run.completed), run.ranked()[0].score)
    ```
    """

    path: str
    config: dict[str, Any]
    records: tuple[TrialRecord, ...]
    paths: tuple[str, ...] = ()

    @property
    def completed(self) -> list[TrialRecord]:
        """The completed trials."""
        return completed(self.records)

    def ranked(self) -> list[TrialRecord]:
        """Completed trials, best score first (ties: lower MACs first)."""
        return ranked(self.records)

    @property
    def cost(self) -> str:
        """What the run's search weighed accuracy against: `macs`, or `latency` (a search
        with `--cost latency`)."""
        return self.config.get("arguments", {}).get("cost") or "macs"

    @property
    def val_size(self) -> int | None:
        """The number of validation images the trials were scored on, when recorded."""
        return _recorded_val_size(self.config)

    def checkpoint(self, trial_id: str) -> str:
        """Keras Tuner's checkpoint of a trial (its final epoch's weights: the objective is absent
        from the epoch logs), in whichever directory holds them."""
        candidates = [
            os.path.join(p, trial_folder(trial_id), CHECKPOINT)
            for p in (self.paths or (self.path,))
        ]
        return next((c for c in candidates if os.path.isfile(c)), candidates[0])

    def search_config(self) -> SearchConfig:
        """The run's recorded arguments as a `SearchConfig` (defaults for any not recorded)."""
        return recorded_search_config(self.config)

    def task(self) -> Task:
        """The `Task` the run's architectures were trained with (see `recorded_task`)."""
        return recorded_task(self.config)

    def data(self, space: SearchSpace | UserBuild | None = None) -> Dataset:
        """The run's data set as its trials saw it (input range, label form), adapted to `space`
        (the run's, rebuilt when None); never downloaded: the job that made the run had it."""
        space = space if space is not None else self.space()
        if isinstance(space, UserBuild):
            return user_build_data(self.search_config(), space, self.task(), download=False)
        return task_data(self.search_config(), space, self.task(), download=False)

    def trained_space_and_data(self) -> tuple[SearchSpace | UserBuild, Dataset]:
        """The run's space and data as its trials trained on them: a `--warm-start` run's space
        with its warm starts fitted on the data, as the search fitted them (`warm_started`)."""
        space = self.space()
        data = self.data(space)
        if isinstance(space, UserBuild):
            return space, data
        recorded = self.config.get("space", {}).get("config")
        if recorded is not None:
            fitted = recorded.get("fitted_on_data")
            # The model `space` already loaded serves again: only the warm starts are refitted.
            refitted = self._space_from(recorded, data.train, space.base_model) if fitted else space
            return refitted, data
        return warm_started(self.search_config(), space, data, **self._space_options()), data

    @property
    def user_code(self) -> dict[str, str] | None:
        """For a search of your `build(hp)` (`--hypermodel`), its recorded `UserCode`
        (reference, path, sha256); None for a space's run."""
        return self.config.get("space", {}).get("hypermodel")

    def space(self) -> SearchSpace | UserBuild:
        """Rebuilds the run's search space from the config it recorded (`SearchSpace.get_config`;
        from its arguments for runs recorded before spaces had one); a `--warm-start` run's warm
        starts from the kernels alone (see `trained_space_and_data` for the ones its trials had).
        A search of your `build(hp)`: your build, imported again from the file it recorded.

        Raises:
            ResultsError: the space cannot be rebuilt; SearchConfigError: your build's file
                changed since the search (both hashes named).
        """
        if self.user_code is not None:
            return UserBuild.recorded(self.user_code, f"the one run '{self.path}' recorded")
        recorded = self.config.get("space", {}).get("config")
        if recorded is not None:
            return self._space_from(recorded)
        config = self.search_config()
        classes = self.config.get("dataset", {}).get("classes")
        space = self._rebuilt(
            lambda: load_search_space(
                config.space.spec, config.space.model, classes=classes, **self._space_options()
            )
        )
        recorded = self.config.get("space", {}).get("sha256")
        if recorded and space.source.get("sha256") != recorded:
            raise ResultsError(
                f"Run '{self.path}': the space file {space.source.get('path')} changed since the search "
                "(its sha256 differs from config.json); restore the original file to export or report."
            )
        return space

    def _space_from(self, recorded: dict, init_data=None, model=None) -> SearchSpace:
        return self._rebuilt(
            lambda: SearchSpace.from_config(recorded, model=model, init_data=init_data)
        )

    def _rebuilt(self, make) -> SearchSpace:
        """`make()`, its errors told as this run's space that cannot be rebuilt."""
        try:
            return make()
        except BottleneckSearchError as error:
            raise ResultsError(
                f"Run '{self.path}': its search space cannot be rebuilt: {error}"
            ) from error

    def _space_options(self) -> dict:
        """`SearchSpace.from_model` options the run's space was made with."""
        config = self.search_config()
        options = search_space_options(config)
        # A model's space: the widths and reductions the run's space was made with.
        if config.space.model is not None:
            recorded = self.config.get("space", {})
            if "widths" in recorded:
                options["widths"] = recorded["widths"]
                options["skip_reduced"] = recorded.get("skip_reduced", False)
            if "reduction" in self.config:
                options["reduction"] = ReductionOptions(**self.config["reduction"])
        return options


def recorded_task(config: dict[str, Any]) -> Task:
    """The `Task` a run's `config.json` records (a softmax classifier's for runs recorded before
    tasks were)."""
    recorded = config.get("task")
    return Task.from_config(recorded) if isinstance(recorded, dict) else Task()


def load_run(paths) -> Run:
    """Reads a run directory, or the directories of one distributed run.

    Args:
        paths: a run directory, or a list of them (a chief's and its workers' own directories);
            trials are merged by id (a completed record wins over a failed one).

    Raises:
        ResultsError: not a run directory, `config.json` missing or corrupted, or no trials file.

    Example:

    ```python
    run = load_run(run_dir)   # e.g. "runs/demo"
    print(len(run.completed), run.ranked()[0].architecture)
    ```
    """
    paths = (
        [os.fspath(paths)]
        if isinstance(paths, str | os.PathLike)
        else [os.fspath(p) for p in paths]
    )
    if not paths:
        raise ResultsError("No run directory given.")
    config = None
    merged: dict[str, TrialRecord] = {}
    lineage: dict[str, tuple[str | None, str]] = {}
    logs = 0
    refused = refused_reports(paths)
    for path in paths:
        if not os.path.isdir(path):
            raise ResultsError(f"Run directory '{path}' does not exist.")
        if config is None:
            try:
                config = read_run_config(path)
            except SearchConfigError as error:
                raise ResultsError(str(error)) from error
        log_path = os.path.join(path, TRIAL_LOG)
        if os.path.isfile(log_path):
            logs += 1
            for record in TrialLog(log_path).read(refused):
                known = merged.get(record.trial_id)
                if known is None or record.outranks(known):
                    merged[record.trial_id] = record
        lineage.update(read_lineage(os.path.join(path, LINEAGE)))
    if config is None:
        raise ResultsError(f"'{paths[0]}' is not a run directory: it has no {CONFIG}.")
    if logs == 0:
        raise ResultsError(f"Run '{paths[0]}' has no {TRIAL_LOG}: no trial has finished yet.")
    records = tuple(
        dataclasses.replace(
            r, parent_trial_id=lineage[r.trial_id][0], mutation=lineage[r.trial_id][1]
        )
        if r.trial_id in lineage
        else r
        for r in merged.values()
    )
    return Run(path=paths[0], config=config, records=records, paths=tuple(paths))


def require_completed(run: Run) -> list[TrialRecord]:
    """The run's completed trials.

    Raises:
        ResultsError: there are none (saying how many failed and were infeasible).
    """
    if not run.completed:
        counts = status_counts(run.records)
        del counts[TrialStatus.COMPLETED]
        raise ResultsError(
            f"Run '{run.path}' has no completed trials ({len(run.records)} readable trials: "
            f"{describe_counts(counts)}); nothing to report or export. Let the search finish "
            "(resume=True; --resume) first."
        )
    return run.completed


def _recorded_val_size(config: dict[str, Any] | None) -> int | None:
    size = ((config or {}).get("dataset") or {}).get("val")
    return size if is_count(size) else None


def validation_images(run_dir: str) -> int | None:
    """The validation images recorded in a run directory's `config.json` (None if unknown)."""
    try:
        return _recorded_val_size(read_run_config(run_dir))
    except SearchConfigError:
        return None
