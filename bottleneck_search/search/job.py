"""`run_search`: the whole search job behind `bottleneck-search search`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import keras_tuner as kt

from bottleneck_search.errors import (
    BottleneckSearchError,
    SearchConfigError,
    SearchSpaceError,
    SearchStoppedError,
    StorageError,
    UnsafeModelError,
)
from bottleneck_search.flops.report import human
from bottleneck_search.search.data import Dataset, load_dataset
from bottleneck_search.search.distributed import (
    Heartbeat,
    Watchdog,
    chief_config_hash,
    config_hash,
    set_environment,
)
from bottleneck_search.search.hypermodel import BottleneckHyperModel
from bottleneck_search.search.objective import FlopPenalty
from bottleneck_search.search.run_dir import (
    CONFIG,
    check_free_space,
    check_run_dir,
    create_run_dir,
    is_storage_error,
    library_versions,
    read_run_config,
    write_atomically,
)
from bottleneck_search.search.trial_log import TrialLog, TrialRecord, ranked
from bottleneck_search.search.tuner_state import (
    atomic_tuner_state,
    check_tuner_state,
    remove_stale_temporaries,
    requeue_orphaned_trials,
)
from bottleneck_search.search.tuners import TRIAL_LOG, TUNERS, make_tuner
from bottleneck_search.space.architecture import short_form
from bottleneck_search.space.search_space import SearchSpace

logger = logging.getLogger(__name__)

DEFAULT_SPACE = "inception_mini"
# Arguments that define a search; resuming with different ones would mix two searches.
_DEFINING = (
    "space",
    "model",
    "dataset",
    "tuner",
    "max_trials",
    "epochs",
    "penalty",
    "target_macs",
    "max_macs",
    "seed",
    "batch_size",
)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Every argument of a search job (the CLI's flags, one to one).

    Attributes:
        space: a YAML backbone path, or the name of one in `search_spaces/` (e.g. `googlenet`).
        model: a `.keras` model to search instead of `space`.
        dataset: a data set spec (see `load_dataset`).
        tuner: `random`, `bayesian`, `hyperband` or `grid`.
        max_trials: trials to run (Hyperband decides its own count from `epochs`).
        epochs: epochs per trial (Hyperband: the most any trial gets).
        penalty: `soft`, `hard` or `linear` (see `FlopPenalty`).
        target_macs: the penalty's target; the space's reference MACs when None.
        max_macs: hard budget: architectures above it are never trained.
        run_dir: the run directory; `runs/<space>-<time>` when None.
        seed: seeds the tuner, the data split and Keras.
        batch_size: training batch size.
        data_dir: TFDS data directory.
        download: let TFDS download a data set that is not prepared.
        resume: continue the run in `run_dir`.
        verbose: show Keras Tuner's and Keras' own progress output.
        chief: `HOST:PORT` to serve the search's oracle on (this process runs no trials).
        worker: `HOST:PORT` of the chief whose trials this process runs.
        worker_id: this worker's Keras Tuner id (default `worker-<host>-<pid>`).
        worker_timeout: seconds without news from a worker after which the chief re-issues its trial.
        connect_timeout: seconds a worker waits for its chief before giving up.
        strategy: `"mirrored"` trains each trial with `tf.distribute.MirroredStrategy`.
        max_consecutive_failures: the search stops once this many trials in a row have failed
            (Keras Tuner's `max_consecutive_failed_trials`); a failure alone never stops it.
    """

    space: str = DEFAULT_SPACE
    model: str | None = None
    dataset: str = "digits"
    tuner: str = "random"
    max_trials: int = 10
    epochs: int = 4
    penalty: str = "soft"
    target_macs: int | None = None
    max_macs: int | None = None
    run_dir: str | None = None
    seed: int = 0
    batch_size: int = 32
    data_dir: str | None = None
    download: bool = False
    resume: bool = False
    verbose: bool = False
    chief: str | None = None
    worker: str | None = None
    worker_id: str | None = None
    worker_timeout: float = 60.0
    connect_timeout: float = 30.0
    strategy: str | None = None
    max_consecutive_failures: int = 3


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What a finished search leaves: the run directory and its trials."""

    run_dir: str
    space: SearchSpace
    records: tuple[TrialRecord, ...]

    @property
    def completed(self) -> list[TrialRecord]:
        return [r for r in self.records if r.status == "COMPLETED"]

    def best(self, k: int = 5) -> list[TrialRecord]:
        """The `k` completed trials with the highest score."""
        return ranked(self.records)[:k]


def resolve_run_dir(config: SearchConfig) -> str:
    """`config.run_dir`, or the default `runs/<space or model name>-<YYYYmmdd-HHMMSS>`."""
    if config.run_dir:
        return config.run_dir
    return os.path.join(
        "runs", f"{Path(config.model or config.space).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    )


def resolve_space_path(space: str) -> str:
    """A YAML path as given, or the shipped backbone of that name (`search_spaces/<name>.yaml`)."""
    if space.endswith((".yaml", ".yml")) or os.sep in space:
        return space
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "search_spaces" / f"{space}.yaml"
        if candidate.is_file():
            return str(candidate)
    raise SearchSpaceError(
        f"No shipped search space named '{space}' (looked for search_spaces/{space}.yaml). Pass a YAML path "
        "or one of: googlenet, inception_mini, vgg_small, resnet_small."
    )


def load_search_space(config: SearchConfig, classes: int | None = None) -> SearchSpace:
    """The space of a search: its YAML backbone, or its `.keras` model loaded in safe mode.

    Searches, and the exports and reports of their runs, never run code stored in a model file:
    there is no `--unsafe-load` for them, because a run directory's `config.json` would otherwise
    decide for whoever exports it later.
    """
    if config.model is not None:
        from bottleneck_search.model_io import load_model

        try:
            model = load_model(config.model)
        except UnsafeModelError as error:
            raise UnsafeModelError(
                f"'{config.model}' contains Python code (e.g. a Lambda layer) that would run on loading; "
                "search, export and report never run code from a model file. Replace the Lambda with a "
                "registered layer class (keras.saving.register_keras_serializable) and save the model again."
            ) from error
        return SearchSpace.from_model(model)
    return SearchSpace.from_yaml(resolve_space_path(config.space), classes=classes)


def run_search(
    config: SearchConfig,
    on_progress: Callable[[str], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> SearchResult:
    """Runs (or resumes) a search job and returns its trials.

    Checks everything it can before training: the run directory, the data, the space, the budget.
    Writes `<run>/config.json`, Keras Tuner's state under `<run>/`, and `<run>/trials.jsonl`.

    Args:
        config: the job's arguments.
        on_progress: receives one line per finished trial (the CLI prints them).
        stop_requested: polled during training; once true the search stops with
            `KeyboardInterrupt` at a point where Keras Tuner's state is consistent.

    Returns:
        A `SearchResult`.

    Example:

    ```python
    result = run_search(SearchConfig(max_trials=4, epochs=2, run_dir="runs/try"))
    print(result.best(1)[0].architecture)
    ```
    """
    _check_config(config)
    run_dir = resolve_run_dir(config)
    config = dataclasses.replace(config, run_dir=run_dir)
    arguments = dataclasses.asdict(config)
    digest = config_hash(arguments, _DEFINING)
    if config.worker is not None:
        saved = _check_worker_run_dir(run_dir, digest)
        remote = chief_config_hash(config.worker, config.connect_timeout)
        if remote != digest:
            raise SearchConfigError(
                f"This worker's search arguments differ from the chief's at {config.worker} (config hash "
                f"{digest} here, {remote or 'none'} there). Start every worker with the chief's arguments: "
                "--space/--model, --dataset, --tuner, --max-trials, --epochs, --penalty, --target-macs, "
                "--max-macs, --seed, --batch-size."
            )
    else:
        saved = check_run_dir(run_dir, config.resume)
        if saved is not None:
            _check_same_search(saved.get("arguments", {}), config)
            remove_stale_temporaries(run_dir)
            check_tuner_state(run_dir)

    space = load_search_space(config)
    data = load_dataset(
        config.dataset,
        space_input_shape(space),
        config.batch_size,
        seed=config.seed,
        data_dir=config.data_dir,
        download=config.download,
    )
    space = _fit_classes(space, data, config)
    penalty = FlopPenalty(config.penalty, target_macs=config.target_macs).resolve(space)
    create_run_dir(run_dir)
    check_free_space(run_dir, _bytes_needed(config, space))
    if saved is None:
        record = {**_config_record(config, space, penalty, data), "config_hash": digest}
        write_atomically(os.path.join(run_dir, CONFIG), json.dumps(record, indent=2))

    log = TrialLog(os.path.join(run_dir, TRIAL_LOG))
    progress = _Progress(config, log, on_progress)
    distributed = config.chief is not None or config.worker is not None
    hypermodel = BottleneckHyperModel(
        space,
        penalty=penalty,
        on_trial_end=progress,
        stop_requested=stop_requested,
        config_hash=digest if distributed else None,
    )
    keras.utils.set_random_seed(config.seed)
    kt_kwargs = {
        "seed": config.seed,
        "overwrite": False,
        "max_consecutive_failed_trials": config.max_consecutive_failures,
    }
    if config.tuner == "hyperband":
        kt_kwargs["max_epochs"] = config.epochs
    else:
        kt_kwargs["max_trials"] = config.max_trials
    if distributed:
        kt_kwargs["max_retries_per_trial"] = 1  # a trial lost with its worker is re-issued once
    if config.strategy == "mirrored":
        import tensorflow as tf

        kt_kwargs["distribution_strategy"] = tf.distribute.MirroredStrategy()
    directory, project = os.path.split(os.path.abspath(run_dir))
    with _distribution_environment(config), atomic_tuner_state():
        # Keras Tuner announces "Reloading Tuner from ..." on resume; the progress lines say enough.
        with (
            open(os.devnull, "w") as devnull,
            contextlib.redirect_stdout(sys.stdout if config.verbose else devnull),
        ):
            tuner = make_tuner(
                config.tuner,
                hypermodel,
                max_macs=config.max_macs,
                directory=directory,
                project_name=project,
                **kt_kwargs,
            )
        if saved is not None and config.worker is None:
            requeue_orphaned_trials(tuner.oracle)
        watchdog = heartbeat = None
        if config.chief is not None:
            watchdog = Watchdog(
                tuner.oracle,
                config.worker_timeout,
                on_lost=_report_lost(log, progress.emit),
                on_end=_report_end(config, progress.emit),
            )
        if config.worker is not None:
            heartbeat = Heartbeat(tuner.oracle)
            tuner.hypermodel.heartbeat = heartbeat
        progress.start()
        # Keras Tuner prints a stray line for every condition it decodes from gRPC
        # (keras_tuner engine/conditions.py); the chief's output is its own per-trial lines.
        quiet = config.chief is not None and not config.verbose
        try:
            with (
                open(os.devnull, "w") as devnull,
                contextlib.redirect_stdout(devnull if quiet else sys.stdout),
            ):
                tuner.search(
                    data.train,
                    validation_data=data.val,
                    epochs=config.epochs,
                    shuffle=False,
                    verbose=1 if config.verbose else 0,
                )
        except (kt.errors.FatalError, OSError, RuntimeError) as error:
            reason = _stop_reason(error, config, tuner, log)
            if reason is None:
                raise
            raise reason from error
        finally:
            for helper in (watchdog, heartbeat):
                if helper is not None:
                    helper.close()
        if config.worker is None:
            _record_failures_from_oracle(tuner, log)
    return SearchResult(run_dir=run_dir, space=space, records=tuple(log.read()))


@contextlib.contextmanager
def _distribution_environment(config: SearchConfig):
    """Keras Tuner's distribution variables for the duration of the search, then the old ones."""
    names = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
    previous = {name: os.environ.get(name) for name in names}
    try:
        if config.chief is not None:
            set_environment("chief", config.chief)
        elif config.worker is not None:
            set_environment("worker", config.worker, config.worker_id)
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_worker_run_dir(run_dir: str, digest: str) -> dict | None:
    """A worker may share the chief's run directory (shared file system) or have its own."""
    saved = read_run_config(run_dir)
    if saved is None:
        return None
    if saved.get("config_hash") != digest:
        raise SearchConfigError(
            f"Run directory '{run_dir}' holds another search (config hash {saved.get('config_hash')}, this "
            f"worker's is {digest}); give this worker the chief's arguments or another --run-dir."
        )
    return saved


def _report_end(config: SearchConfig, emit: Callable[[str], None]):
    ended = []
    started = time.monotonic()

    def on_end(trial) -> None:
        ended.append(trial.trial_id)
        total = "" if config.tuner == "hyperband" else f"/{config.max_trials}"
        score = "-" if trial.score is None else f"{trial.score:.3f}"
        emit(
            f"chief: trial {trial.trial_id} {trial.status.lower()} ({len(ended)}{total} ended)  val_score {score}  elapsed {_clock(time.monotonic() - started)}"
        )

    return on_end


def _report_lost(log: TrialLog, emit: Callable[[str], None]):
    def on_lost(tuner_id: str, trial_id: str, outcome: str) -> None:
        emit(
            f"worker {tuner_id} stopped responding during trial {trial_id}; the trial is {outcome}"
        )
        if outcome == "failed":
            log.append(TrialRecord.lost(trial_id, f"worker {tuner_id} stopped responding twice"))

    return on_lost


def space_input_shape(space: SearchSpace) -> tuple[int, ...]:
    model_shape = space.source.get("input_shape")
    if model_shape is None:
        raise SearchSpaceError(f"Space '{space.name}' does not record its input shape.")
    return tuple(model_shape)


def _check_config(config: SearchConfig) -> None:
    if config.tuner not in TUNERS:
        raise SearchConfigError(
            f"Unknown tuner '{config.tuner}'; expected one of {', '.join(TUNERS)}."
        )
    if config.chief is not None and config.worker is not None:
        raise SearchConfigError(
            "A process is either the chief (--chief) or a worker (--worker), not both."
        )
    if config.strategy not in (None, "mirrored"):
        raise SearchConfigError(
            f"Unknown strategy '{config.strategy}'; the only one is 'mirrored'."
        )
    for name in ("max_trials", "epochs", "batch_size", "max_consecutive_failures"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise SearchConfigError(f"{name} must be a positive integer. Received: {value!r}.")


def _fit_classes(space: SearchSpace, data: Dataset, config: SearchConfig) -> SearchSpace:
    classes = space.source.get("classes")
    if classes == data.num_classes:
        return space
    if config.model is not None:
        raise SearchConfigError(
            f"Data set '{data.name}' has {data.num_classes} classes but model '{space.name}' predicts {classes}; "
            "use a model whose output matches the data."
        )
    return load_search_space(config, classes=data.num_classes)


def _check_same_search(saved: dict, config: SearchConfig) -> None:
    current = dataclasses.asdict(config)
    differing = [key for key in _DEFINING if key in saved and saved[key] != current[key]]
    if differing:
        changes = ", ".join(f"{key}: {saved[key]!r} -> {current[key]!r}" for key in differing)
        raise SearchConfigError(
            f"Cannot resume '{config.run_dir}' with different search arguments ({changes}). Resume with the "
            "original arguments, or start a new run directory."
        )


def _config_record(
    config: SearchConfig, space: SearchSpace, penalty: FlopPenalty, data: Dataset
) -> dict:
    return {
        "arguments": dataclasses.asdict(config),
        "space": {
            **space.source,
            "name": space.name,
            "sites": len(space.sites),
            "size": space.size,
        },
        "penalty": dataclasses.asdict(penalty),
        "reduction": dataclasses.asdict(space.reduction),
        "dataset": {
            "name": data.name,
            "classes": data.num_classes,
            "train": data.train_size,
            "val": data.val_size,
        },
        "versions": library_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _stop_reason(
    error: Exception, config: SearchConfig, tuner, log: TrialLog
) -> BottleneckSearchError | None:
    """The error of ours that explains an exception that ended `tuner.search`, if there is one."""
    if isinstance(error, kt.errors.FatalError) and is_storage_error(error.__cause__):
        error = error.__cause__
    if is_storage_error(error):
        return StorageError(
            f"Cannot write to run directory '{config.run_dir}': {error.strerror} ('{error.filename}'). The "
            "finished trials are kept; free disk space or fix the directory's permissions, then rerun with "
            "--resume."
        )
    if isinstance(error, kt.errors.FatalError):
        return SearchConfigError(str(error))
    if isinstance(error, RuntimeError) and str(error).startswith("Number of consecutive failures"):
        _record_failures_from_oracle(tuner, log)
        failed = [r for r in log.read() if r.status == "FAILED"]
        last = f" The last (trial {failed[-1].trial_id}): {failed[-1].reason}." if failed else ""
        return SearchStoppedError(
            f"Stopped: {config.max_consecutive_failures} trials in a row failed "
            f"(--max-consecutive-failures {config.max_consecutive_failures}).{last} Fix the cause (often "
            "the learning rate, the data or the space), then rerun with --resume; finished trials are kept."
        )
    return None


def _bytes_needed(config: SearchConfig, space: SearchSpace) -> int:
    """A generous estimate of the disk a search writes: one float32 weight checkpoint of the space's
    largest architecture and 64 KiB of Keras Tuner state per trial."""
    trials = config.max_trials if config.tuner != "hyperband" else 10 * config.epochs
    return trials * (4 * space.most_expensive().params + 64 * 1024)


def _record_failures_from_oracle(tuner, log: TrialLog) -> None:
    """Adds a FAILED line for trials Keras Tuner failed without our `fit` recording them (trials of a
    worker with its own directory, an error inside Keras Tuner itself)."""
    logged = {record.trial_id for record in log.read()}
    for trial in tuner.oracle.trials.values():
        if trial.status == "FAILED" and trial.trial_id not in logged:
            reason = (trial.message or "failed").strip().splitlines()[-1]
            log.append(TrialRecord.lost(trial.trial_id, reason))


class _Progress:
    """Turns each finished trial into one progress line."""

    def __init__(self, config: SearchConfig, log: TrialLog, emit: Callable[[str], None] | None):
        self.total = None if config.tuner == "hyperband" else config.max_trials
        self.log = log
        self.emit = emit or logger.info
        self.started = time.monotonic()
        self.done_here = 0

    def start(self) -> None:
        self.started = time.monotonic()

    def __call__(self, record: TrialRecord) -> None:
        self.done_here += 1
        records = self.log.read()
        scores = [r.score for r in records if r.status == "COMPLETED"]
        best = max(scores) if scores else None
        index = len(records)  # trials logged so far; a re-run trial replaces its earlier line
        elapsed = time.monotonic() - self.started
        position = f"trial {index}/{self.total}" if self.total else f"trial {index}"
        position += f" (id {record.trial_id})"
        if self.total:
            remaining = max(self.total - index, 0) * elapsed / self.done_here
            timing = f"elapsed {_clock(elapsed)}  eta {_clock(remaining)}"
        else:
            timing = f"elapsed {_clock(elapsed)}"
        if record.status == "COMPLETED":
            outcome = f"val_acc {record.val_accuracy:.3f}  score {record.score:.3f}"
        else:
            outcome = f"{record.status.lower()}: {record.reason}"
        shown = short_form(record.architecture)
        best_text = f"best {best:.3f}" if best is not None else "best -"
        self.emit(
            f"{position}  [{shown}]  MACs {human(record.macs)}  {outcome}  {best_text}  {timing}"
        )


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
