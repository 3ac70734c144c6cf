"""`run_search`: the whole search job behind `bottleneck-search search`, told as a story.

Each step is done by the module that owns it: the run directory (`rundir`), finding the space
(`space.catalog`), the data (`data`), the tuner (`search.oracles.tuners`), the distributed roles
(`search.jobs.distributed`), the progress lines (`search.jobs.progress`) and the reasons a search stops
early (`search.jobs.stopping`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from collections.abc import Callable, Iterator
from functools import partial

import keras

from bottleneck_search.data import Dataset
from bottleneck_search.rundir.config import SearchConfig
from bottleneck_search.rundir.confirmations import ConfirmationRecord
from bottleneck_search.rundir.environment import check_same_backend
from bottleneck_search.rundir.files import (
    CONFIG,
    ISSUED,
    ORIGINAL_MODEL,
    TRIAL_LOG,
    check_free_space,
    check_run_dir,
    create_run_dir,
    estimated_bytes,
    keep_in_memory_data,
    keep_original_model,
    kept_data_spec,
    remove_stale_temporaries,
    write_atomically,
)
from bottleneck_search.rundir.record import SEARCH, run_record
from bottleneck_search.rundir.task import (
    checked_data,
    search_space_options,
    search_task,
    task_data,
    user_build_data,
    user_build_task,
    warm_started,
)
from bottleneck_search.rundir.trial_log import TrialLog, TrialRecord, completed, ranked
from bottleneck_search.search.engine.objective import CostPenalty, check_budgets
from bottleneck_search.search.engine.observer import FunctionObserver
from bottleneck_search.search.jobs import costs
from bottleneck_search.search.jobs.confirm import confirm_run
from bottleneck_search.search.jobs.context import JobContext
from bottleneck_search.search.jobs.distributed import (
    check_chief,
    check_worker,
    connect_worker,
    distribution_environment,
    lost_chief,
    serve_chief,
    worker_security,
)
from bottleneck_search.search.jobs.oneshot import run_oneshot
from bottleneck_search.search.jobs.progress import ChiefNews, Progress
from bottleneck_search.search.jobs.stopping import record_failures_from_oracle
from bottleneck_search.search.jobs.trainer_pool import TrainerPool
from bottleneck_search.search.jobs.tuner_state import (
    atomic_tuner_state,
    check_tuner_state,
    requeue_orphaned_trials,
)
from bottleneck_search.search.jobs.tuning import (
    run_tuner,
    search_hypermodel,
    search_in_process,
    search_tuner,
)
from bottleneck_search.search.served.liveness import Heartbeat, Watchdog
from bottleneck_search.search.served.oracle_server import restore_ongoing
from bottleneck_search.space.catalog import load_search_space, space_input_shape
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.user_build import UserBuild
from bottleneck_search.space.user_code import check_unchanged, defining_file
from bottleneck_search.supernet import Supernet
from bottleneck_search.training.task import Task

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """What a finished search leaves: the run directory, its trials and its confirmation runs.

    Attributes:
        run_dir: the run directory.
        space: the space searched.
        records: every trial of the run, in trial id order.
        confirmations: the confirmation stage's runs (empty when it was off).

    Example:

    ```python
    parts = dict(proposer=Proposer(max_trials=1), training=TrialTraining(epochs=1))
    result = run_search(SearchConfig(tiny_space, **parts, confirm=Confirmation(0), run_dir=f"{tmp}/r"))
    assert len(result.records) == 1 and result.space.name == "tiny"
    ```
    """

    run_dir: str
    space: SearchSpace
    records: tuple[TrialRecord, ...]
    confirmations: tuple[ConfirmationRecord, ...] = ()

    @property
    def completed(self) -> list[TrialRecord]:
        """The completed trials."""
        return completed(self.records)

    def best(self, k: int = 5) -> list[TrialRecord]:
        """The `k` completed trials with the highest score."""
        return ranked(self.records)[:k]


def run_search(
    config: SearchConfig,
    on_progress: Callable[[str], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> SearchResult:
    """Runs (or resumes) a search job and returns its trials.

    Checks everything it can before training: the arguments, the run directory, the space (or
    your `build(hp)`, `SpaceSource(hypermodel=...)`, imported and run once with its defaults),
    the data, the budget and the disk. Writes `<run>/config.json`, Keras Tuner's state under `<run>/`,
    and `<run>/trials.jsonl`; then, unless distributed or `config.confirm.top` is 0, the confirmation
    stage (`confirm_run`) retrains the best front points and the baselines with several seeds.
    Trials train in this process, or in trainer processes (`config.trials_per_trainer`, see
    `search.jobs.trainer_pool`) that keep memory bounded and survive a crashed or hung trial.
    Prints nothing: progress lines go to `on_progress` (or the log).

    Args:
        config: the job's arguments.
        on_progress: receives one line per finished trial (the CLI prints them).
        stop_requested: polled during training; once true the search stops with
            `KeyboardInterrupt` at a point where Keras Tuner's state is consistent.

    Returns:
        A `SearchResult`.

    Example:

    ```python
    config = SearchConfig(
        space=tiny_space,
        proposer=Proposer(max_trials=2),
        training=TrialTraining(epochs=1),
        confirm=Confirmation(top=0),
        run_dir=f"{tmp}/run",
    )
    result = run_search(config)
    print(result.best(1)[0].architecture)
    ```
    """
    config = config.with_default_run_dir()
    if config.space.model is not None or config.space.hypermodel is not None:  # no YAML space
        config = config.replace(space=None)
    # A model or data given in memory are saved into the run: trainers, resume, confirmation
    # and export load them as files.
    in_memory = config.space.model if isinstance(config.space.model, keras.Model) else None
    if in_memory is not None:
        config = config.replace(model=os.path.join(config.run_dir, ORIGINAL_MODEL))
    given_data = None if isinstance(config.data.dataset, str) else config.data.dataset
    if given_data is not None:
        config = config.replace(dataset=kept_data_spec(config.run_dir))
    saved = _check_run_dir(config)
    if in_memory is not None or given_data is not None:
        create_run_dir(config.run_dir)
    if in_memory is not None:
        keep_original_model(in_memory, config.run_dir)
    if given_data is not None:
        keep_in_memory_data(given_data, config.run_dir)
    space, task, data = space_and_data(config)
    if config.proposer.strategy == "oneshot":
        Supernet.check_space(space)  # before the run directory holds anything
    create_run_dir(config.run_dir)
    space = costs.timed_space(config, space, on_progress or logger.info)
    penalty = costs.search_penalty(config, space)
    if isinstance(space, UserBuild):  # its costs are counted as its models are built
        largest = space.default.params
    else:
        check_budgets(space, config.objective.max_macs, costs.max_latency_us(config))
        largest = space.most_expensive().params
    check_free_space(config.run_dir, estimated_bytes(config.trial_budget, largest))
    if saved is None:
        record = _config_record(config, space, penalty, data, task)
        write_atomically(os.path.join(config.run_dir, CONFIG), json.dumps(record, indent=2))

    log = TrialLog(os.path.join(config.run_dir, TRIAL_LOG))
    emit = on_progress or logger.info
    job = JobContext(config, space, task, data, log, emit, stop_requested)
    if config.proposer.strategy == "oneshot":
        emit(task.describe())
        with atomic_tuner_state():
            run_oneshot(job, penalty)
    else:
        _run_trials(job, resumed=saved is not None)
    records = tuple(log.read())
    confirmations: list[ConfirmationRecord] = []
    top, seeds = config.confirmation
    if top and not config.distribution.active and completed(records):
        confirmations = confirm_run(
            config.run_dir, top, seeds, on_progress=emit, stop_requested=stop_requested
        )
    return SearchResult(
        run_dir=config.run_dir,
        space=space,
        records=records,
        confirmations=tuple(confirmations),
    )


def _run_trials(job: JobContext, resumed: bool) -> None:
    """Runs the tuner's trials, each architecture trained on its own (here or in trainers)."""
    config, log, emit, stop_requested = job.config, job.log, job.emit, job.stop_requested
    progress = Progress(config, log, emit, job.data.val_size, job.task)
    observer = _JobObserver(progress, stop_requested, emit)
    hypermodel = search_hypermodel(config, job.space, job.task, observer)
    keras.utils.set_random_seed(config.seed)
    news = ChiefNews(config, log, emit)
    with distribution_environment(config), atomic_tuner_state():
        tuner = search_tuner(config, hypermodel)
        if resumed and config.distribution.chief is not None:
            restored = restore_ongoing(tuner.oracle, os.path.join(config.run_dir, ISSUED))
            if restored:
                emit(
                    f"chief: trials {', '.join(restored)} were ongoing when the chief stopped; their "
                    f"workers have worker_timeout={config.distribution.worker_timeout:g} s (--worker-timeout) to report them"
                )
        if resumed and config.distribution.worker is None:
            requeue_orphaned_trials(tuner.oracle)
        if config.distribution.worker is not None:
            connect_worker(tuner, config.distribution.worker, worker_security(config))
        with _liveness(config, tuner.oracle, observer, news):
            progress.start()
            if config.distribution.chief is not None:
                search = partial(serve_chief, job, tuner, news)
            elif config.trials_per_trainer:
                search = TrainerPool(job, tuner, progress).run
            else:
                search = partial(search_in_process, tuner, job.data, config)
            try:
                run_tuner(search, config, tuner.oracle, log)
            except Exception as error:
                lost = lost_chief(error, config) if config.distribution.worker is not None else None
                if lost is None:
                    raise
                raise lost from error
        if config.distribution.worker is None:
            record_failures_from_oracle(tuner.oracle, log)


def space_and_data(config: SearchConfig) -> tuple[SearchSpace | UserBuild, Task, Dataset]:
    """The space (a YAML space's classifier as wide as the data has classes) or your build, its
    task, and the data in the task's input range and label form.

    Raises:
        SearchConfigError: a model whose output cannot be trained on the data's labels; a
            build that cannot be imported or fails with its default hyperparameters.
    """
    if config.space.hypermodel is not None:
        build = UserBuild.from_reference(config.space.hypermodel)
        task = user_build_task(config, build)
        return build, task, user_build_data(config, build, task)
    space = load_search_space(config.space.spec, config.space.model, **search_space_options(config))
    if config.space.model is None:
        data = config.load_data(space_input_shape(space))
        if space.source.get("classes") != data.num_classes:
            space = load_search_space(config.space.spec, None, classes=data.num_classes)
        task = search_task(config, space)
        return space, task, checked_data(task, space.name, space.source.get("output_shape"), data)
    task = search_task(config, space)
    data = task_data(config, space, task)
    return warm_started(config, space, data), task, data


def _check_run_dir(config: SearchConfig) -> dict | None:
    """Checks that the run directory may hold this search; returns its saved config, if any."""
    if config.distribution.worker is not None:
        saved = check_worker(config)
    else:
        if config.distribution.chief is not None:
            check_chief(config)
        saved = check_run_dir(config.run_dir, config.resume)
        if saved is not None:
            config.check_same_search(saved.get("arguments", {}))
            check_same_backend(saved, config.run_dir)
            remove_stale_temporaries(config.run_dir)
            check_tuner_state(config.run_dir)
    check_recorded_build(config, saved)
    return saved


def check_recorded_build(config: SearchConfig, saved: dict | None) -> None:
    """Refuses to go on with a `hypermodel` whose file differs from the one the run's
    `config.json` (`saved`) recorded: a resume, a worker or a trainer process of that run.

    Raises:
        SearchConfigError: naming the file and both hashes.
    """
    recorded = (saved or {}).get("space", {}).get("hypermodel")
    if recorded is not None:
        where = f"the one run '{config.run_dir}' recorded"
        check_unchanged(defining_file(config.space.hypermodel), recorded["sha256"], where)


@contextlib.contextmanager
def _liveness(
    config: SearchConfig, oracle, observer: _JobObserver, news: ChiefNews
) -> Iterator[None]:
    """A chief's watchdog over its workers, or a worker's heartbeat, for the block's duration."""
    helper = None
    if config.distribution.chief is not None:
        helper = Watchdog(
            oracle,
            config.distribution.worker_timeout,
            on_lost=news.worker_lost,
            on_end=news.trial_ended,
        )
    elif config.distribution.worker is not None:
        helper = observer.heartbeat = Heartbeat(oracle)
    try:
        yield
    finally:
        if helper is not None:
            helper.close()


class _JobObserver(FunctionObserver):
    """The job's view of its trials: a progress line each (and per epoch of a long one), a
    deferred Ctrl-C, a worker's heartbeat."""

    def __init__(
        self,
        progress: Progress,
        stop_requested: Callable[[], bool] | None,
        emit: Callable[[str], None],
    ):
        super().__init__(progress.trial_ended, stop_requested)
        self.heartbeat: Heartbeat | None = None
        self.emit = emit

    def progress(self, line: str) -> None:
        self.emit(line)

    def training_started(self, trial_id: str | None) -> None:
        if self.heartbeat is not None:
            self.heartbeat.start(trial_id)

    def training_ended(self, trial_id: str | None) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()


def _config_record(
    config: SearchConfig,
    space: SearchSpace | UserBuild,
    penalty: CostPenalty,
    data: Dataset,
    task: Task,
) -> dict:
    return run_record(
        SEARCH,
        config.arguments(),
        space,
        data,
        task,
        (
            {"optimizer": "your build's compile"}
            if isinstance(space, UserBuild)
            else {**dataclasses.asdict(config.training.recipe()), "optimizer": "adam"}
        ),
        penalty=dataclasses.asdict(penalty),
        config_hash=config.digest(),
    )
