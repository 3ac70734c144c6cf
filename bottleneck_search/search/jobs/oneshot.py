"""`run_oneshot`: the scoring step of `--strategy oneshot`. One weight-sharing `Supernet` is trained,
then architectures are scored with its weights in seconds each.

1. Train the supernet for `supernet_epochs` under the search's recipe. Keras' own
   `BackupAndRestore` keeps the last finished epoch under `<run>/supernet_backup/`, so a killed
   search resumes after it; the trained weights are then written atomically to
   `<run>/supernet.weights.h5`, and a resume with that file skips training.
2. Evaluate: every architecture of a space of at most `evaluate` architectures (those within
   `max_macs`, by closed form), otherwise `evaluate` of them chosen by aging evolution
   (`EvolutionOracle`, run by Keras Tuner with its state in the run directory). Each evaluation
   recalibrates batch norm on the same training batches, scores the validation split, and is
   appended to `<run>/trials.jsonl` as a trial with `source: "supernet"`; a resume evaluates only
   what is not there yet.

`run_search` then retrains the best of the estimated front from scratch (its confirmation stage),
as after any search: the supernet's accuracies rank architectures, the retrained ones are the
figures to quote.
"""

from __future__ import annotations

import itertools
import os
import time

import keras
import keras_tuner as kt

from bottleneck_search.recipe import steps_per_epoch
from bottleneck_search.rundir.files import LINEAGE, atomic_output
from bottleneck_search.rundir.trial_log import (
    SUPERNET_SOURCE,
    TrialRecord,
    TrialStatus,
    scored_value,
)
from bottleneck_search.search.engine.callbacks import StopWhenRequested
from bottleneck_search.search.engine.objective import OBJECTIVE, CostPenalty
from bottleneck_search.search.jobs.context import JobContext
from bottleneck_search.search.jobs.tuner_state import requeue_orphaned_trials
from bottleneck_search.search.oracles.evolution import EvolutionOracle
from bottleneck_search.space.architecture import Architecture, short_form
from bottleneck_search.space.hyperparameters import architecture_from_hp
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.stats import metric_text
from bottleneck_search.supernet import Supernet
from bottleneck_search.supernet.supernet import CALIBRATION_BATCHES
from bottleneck_search.training.fit import clock, compile_model, fit_model

SUPERNET_WEIGHTS = "supernet.weights.h5"
SUPERNET_BACKUP = "supernet_backup"
# Evaluations between two progress lines: about 20 lines in all.
PROGRESS_LINES = 20


def run_oneshot(job: JobContext, penalty: CostPenalty) -> None:
    """Trains (or reloads) the supernet and appends its evaluations to the job's trial log."""
    config, space = job.config, job.space
    epochs, budget = config.oneshot_budget
    keras.utils.set_random_seed(config.seed)
    supernet = Supernet(space, seed=config.seed)
    train_supernet(supernet, job, epochs)
    evaluate = _Evaluator(supernet, job, penalty)
    if space.size <= budget:
        max_macs = config.objective.max_macs
        evaluate.every([a for a in space.architectures() if max_macs is None or a.macs <= max_macs])
    else:
        evaluate.evolving(budget)


def train_supernet(supernet: Supernet, job: JobContext, epochs: int) -> None:
    """Trains `supernet` for `epochs`, resuming after its last finished epoch; a run that holds the
    trained weights already only loads them."""
    config, task, data, emit = job.config, job.task, job.data, job.emit
    trained = os.path.join(config.run_dir, SUPERNET_WEIGHTS)
    compile_model(
        supernet.model,
        task,
        config.training.recipe().optimizer(steps_per_epoch((data.train,), {}), epochs),
    )
    if os.path.isfile(trained):
        supernet.model.load_weights(trained)
        emit(f"supernet: trained weights loaded from {trained}")
        return
    emit(
        f"supernet: training {epochs} epochs over {supernet.space.size} architectures "
        f"({len(supernet.space.sites)} sites)"
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(
            os.path.join(config.run_dir, SUPERNET_BACKUP), double_checkpoint=True
        ),
    ]
    if job.stop_requested is not None:
        callbacks.append(StopWhenRequested(job.stop_requested))
    # Its metrics are over architectures sampled per example, which the line's label says.
    fit_model(
        supernet.model,
        data.train,
        epochs=epochs,
        callbacks=callbacks,
        on_progress=emit,
        label="supernet",
        progress_after=0,
    )
    with atomic_output(trained) as temporary:
        supernet.model.save_weights(temporary)


class _Evaluator:
    """Scores architectures with the supernet and records each as a trial of `source: supernet`."""

    def __init__(self, supernet: Supernet, job: JobContext, penalty: CostPenalty):
        self.supernet, self.penalty, self.config = supernet, penalty, job.config
        self.data, self.task, self.log = job.data, job.task, job.log
        self.emit, self.stop_requested = job.emit, job.stop_requested or (lambda: False)
        # The same training batches recalibrate every architecture, so their differences are the
        # architectures', not the batches'.
        self.calibration = list(itertools.islice(iter(self.data.train), CALIBRATION_BATCHES))
        self.done = self.log.read_by_id()
        self.total = 0
        self.started = time.monotonic()
        self.best: TrialRecord | None = None

    def every(self, architectures: list[Architecture]) -> None:
        """Evaluates each architecture once, trial ids `0, 1, ...` in the given order."""
        self.total = len(architectures)
        self.emit(f"evaluating all {self.total} architectures with the supernet's weights")
        for index, architecture in enumerate(architectures):
            self.record(str(index), architecture)

    def evolving(self, budget: int) -> None:
        """Evaluates `budget` architectures proposed by aging evolution."""
        config = self.config
        self.total = budget
        population = max(2, min(100, budget // 10))
        self.emit(
            f"evaluating {budget} of {self.supernet.space.size:.3g} architectures chosen by "
            f"evolution (population {population})"
        )
        directory, project = os.path.split(os.path.abspath(config.run_dir))
        oracle = EvolutionOracle(
            kt.Objective(OBJECTIVE, direction=self.task.direction),
            max_trials=budget,
            population_size=population,
            tournament_size=max(3, population // 4),
            space=self.supernet.space,
            max_macs=config.objective.max_macs,
            lineage_log=os.path.join(config.run_dir, LINEAGE),
            seed=config.seed,
        )
        tuner = _SupernetTuner(
            self,
            oracle=oracle,
            hypermodel=_SpaceHyperModel(self.supernet.space),
            directory=directory,
            project_name=project,
            overwrite=False,
        )
        requeue_orphaned_trials(tuner.oracle)
        tuner.search(verbose=0)

    def record(self, trial_id: str, architecture: Architecture) -> TrialRecord:
        """The trial's record: the one already in the log, or a new evaluation appended to it."""
        if trial_id in self.done:
            return self.done[trial_id]
        if self.stop_requested():
            raise KeyboardInterrupt
        started = time.monotonic()
        result = self.supernet.evaluate(
            architecture, self.data.val, self.calibration, len(self.calibration)
        )
        record = TrialRecord.of(
            trial_id,
            TrialStatus.COMPLETED,
            result.architecture,
            started,
            **scored_value(self.task, result.value(self.task)),
            score=self.penalty.score_of(
                result.value(self.task), result.architecture, self.task.direction
            ),
            source=SUPERNET_SOURCE,
        )
        self.log.append(record)
        self.done[trial_id] = record
        self._progress(record)
        return record

    def _progress(self, record: TrialRecord) -> None:
        if self.best is None or self.task.better(record.score, self.best.score):
            self.best = record
        count = len(self.done)
        if count == 1 or count >= self.total or count % max(1, self.total // PROGRESS_LINES) == 0:
            self.emit(
                f"evaluated {count}/{self.total}  best score {self.best.score:.4f} "
                f"[{short_form(self.best.architecture)}] "
                f"{metric_text(self.best.value_name, self.best.value, None)} "
                f"(estimated)  elapsed {clock(time.monotonic() - self.started)}"
            )


class _SpaceHyperModel(kt.HyperModel):
    """Declares the space's hyperparameters for Keras Tuner; builds nothing (the supernet scores)."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space

    def build(self, hp):
        architecture_from_hp(self.space, hp)


class _SupernetTuner(kt.Tuner):
    """A Keras Tuner tuner whose trials are supernet evaluations instead of trainings."""

    def __init__(self, evaluator: _Evaluator, **kwargs):
        super().__init__(**kwargs)
        self.evaluator = evaluator

    def run_trial(self, trial, *args, **kwargs):
        architecture = architecture_from_hp(self.evaluator.supernet.space, trial.hyperparameters)
        record = self.evaluator.record(trial.trial_id, architecture)
        return {
            OBJECTIVE: record.score,
            record.value_name: record.value,
            "macs": float(record.macs),
        }
