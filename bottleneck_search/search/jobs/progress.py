"""The lines a running search prints: one per finished trial, and a chief's per-trial news."""

from __future__ import annotations

import time
from collections.abc import Callable

from bottleneck_search.flops.report import human
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.trial_log import TrialLog, TrialRecord, TrialStatus, completed
from bottleneck_search.space.architecture import short_form
from bottleneck_search.stats import metric_text
from bottleneck_search.training.fit import clock
from bottleneck_search.training.task import Task


class Progress:
    """Turns each finished trial into one line: position, architecture, MACs, outcome, best so
    far, elapsed time and, for a fixed budget, the estimated time left.

    Args:
        config: the search's arguments (its tuner and budget).
        log: the run's trial log (read for the count and the best score so far).
        emit: receives each line.
        val_size: validation images, for the accuracy's 95% interval (none shown when None).
        task: the search's `Task`, said first.
    """

    def __init__(
        self,
        config: SearchConfig,
        log: TrialLog,
        emit: Callable[[str], None],
        val_size: int | None = None,
        task: Task | None = None,
    ):
        self.task = task
        self.from_scratch = config.space.model is not None and not config.space.warm_start
        self.total = config.fixed_trials
        self.recipe = config.training.recipe()
        self.users_build = config.space.hypermodel
        self.val_size = val_size
        self.log = log
        self.emit = emit
        self.started = time.monotonic()
        self.done_here = 0

    def start(self) -> None:
        """Says how trials are trained and read, and starts the clock (after the set-up, so the
        estimate reflects training alone)."""
        if self.task is not None:
            self.emit(self.task.describe())
        if self.from_scratch:
            self.emit(
                "every architecture trains from scratch (frozen layers keep their weights): the "
                "model's trained weights are not used; to shrink a trained model use "
                "compress (compress_model), or start from its weights with warm_start=True "
                "(--warm-start)"
            )
        if self.users_build is not None:
            self.emit(
                f"each trial: compiled and trained as {self.users_build} compiles it (your "
                f"optimizer, learning rate, loss and metrics); {self.recipe.describe_scoring()}"
            )
        else:
            self.emit(f"each trial: {self.recipe.describe()}")
        if self.val_size and (self.task is None or self.task.scores_accuracy):
            self.emit(
                f"val_acc [low, high]: its 95% interval from {self.val_size:,} validation images"
            )
        self.started = time.monotonic()

    def trial_ended(self, record: TrialRecord) -> None:
        self.done_here += 1
        records = self.log.read()
        scores = [r.score for r in completed(records)]
        best = max(scores) if scores else None
        index = len(records)  # trials logged so far; a re-run trial replaces its earlier line
        elapsed = time.monotonic() - self.started
        position = f"trial {index}/{self.total}" if self.total else f"trial {index}"
        position += f" (id {record.trial_id})"
        timing = f"elapsed {clock(elapsed)}"
        if self.total:
            remaining = max(self.total - index, 0) * elapsed / self.done_here
            timing += f"  eta {clock(remaining)}"
        if record.status is TrialStatus.COMPLETED:
            outcome = (
                f"{metric_text(record.value_name, record.value, self.val_size)}  "
                f"score {record.score:.3f}"
            )
        else:
            outcome = f"{record.status.lower()}: {record.reason}"
        best_text = f"best {best:.3f}" if best is not None else "best -"
        self.emit(
            f"{position}  [{short_form(record.architecture)}]  MACs {human(record.macs)}  "
            f"{outcome}  {best_text}  {timing}"
        )


class ChiefNews:
    """A chief's lines: each trial a worker ended, and each worker that went silent."""

    def __init__(self, config: SearchConfig, log: TrialLog, emit: Callable[[str], None]):
        self.total = f"/{config.fixed_trials}" if config.fixed_trials else ""
        self.log = log
        self.emit = emit
        self.ended: list[str] = []
        self.started = time.monotonic()

    def trial_ended(self, trial) -> None:
        """A Keras Tuner trial ended on some worker."""
        self.ended.append(trial.trial_id)
        score = "-" if trial.score is None else f"{trial.score:.3f}"
        self.emit(
            f"chief: trial {trial.trial_id} {trial.status.lower()} ({len(self.ended)}{self.total} "
            f"ended)  val_score {score}  elapsed {clock(time.monotonic() - self.started)}"
        )

    def refused(self, refusal: dict) -> None:
        """The served oracle refused a worker's report (see `oracle_server.CheckedServicer`)."""
        trial = f" of trial {refusal['trial_id']}" if refusal.get("trial_id") else ""
        queued = "; the trial goes to another worker" if refusal.get("requeued") else ""
        self.emit(
            f"chief: refused {refusal['call']}{trial} from worker {refusal['worker']} "
            f"({refusal['peer']}): {refusal['reason']}{queued}"
        )

    def worker_lost(self, tuner_id: str, trial_id: str | None, outcome: str) -> None:
        """A worker went silent: mid-trial, its trial was `outcome` ("re-issued" or "failed");
        between trials (`trial_id` None, outcome "forgotten"), the chief stopped waiting for it."""
        if trial_id is None:
            self.emit(
                f"worker {tuner_id} stopped responding between trials; the chief no longer waits for it"
            )
            return
        self.emit(
            f"worker {tuner_id} stopped responding during trial {trial_id}; the trial is {outcome}"
        )
        if outcome == "failed":
            self.log.append(
                TrialRecord.lost(trial_id, f"worker {tuner_id} stopped responding twice")
            )
