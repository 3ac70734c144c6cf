"""`SearchConfig`, a search assembled from its parts (`bottleneck_search.parts`), and the flat
arguments a run's `config.json` records them as."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any

from bottleneck_search.argument_validation import check_flag
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.parts import (
    Confirmation,
    DataSource,
    Distribution,
    LatencySettings,
    Proposer,
    SearchObjective,
    SpaceSource,
    TaskOverrides,
    TrainerProcesses,
    TrialTraining,
)
from bottleneck_search.parts.base import check_parts, flat_arguments, parts_from_arguments
from bottleneck_search.policy import ONESHOT_EVALUATIONS, TRIALS_PER_TRAINER
from bottleneck_search.rundir.files import default_run_dir

# The parts of a search: attribute name -> class.
PARTS = {
    "space": SpaceSource,
    "data": DataSource,
    "task": TaskOverrides,
    "training": TrialTraining,
    "objective": SearchObjective,
    "proposer": Proposer,
    "trainers": TrainerProcesses,
    "distribution": Distribution,
    "latency": LatencySettings,
    "confirm": Confirmation,
}
# The flat arguments (the CLI's flags, the keys of `config.json`'s `arguments`) -> (part,
# argument): those a part holds under the same name, then those it names otherwise; the rest of
# the flat names are the config's own fields (`OWN`).
_SAME_NAMES = {
    "space": (
        "model",
        "warm_start",
        "include_frozen",
        "widths",
        "min_kernel_size",
        "round_to",
        "hypermodel",
    ),
    "data": ("dataset", "train_size", "batch_size", "data_dir", "download"),
    "task": ("loss", "metric", "input_range"),
    "training": ("epochs", "learning_rate", "schedule", "score_epochs"),
    "objective": ("penalty", "target_macs", "max_macs", "cost", "target_latency", "max_latency"),
    "proposer": (
        "tuner",
        "max_trials",
        "population_size",
        "max_consecutive_failures",
        "strategy",
        "supernet_epochs",
        "evaluate",
    ),
    "trainers": ("trials_per_process", "trial_timeout", "trainer_memory"),
    "distribution": (
        "chief",
        "worker",
        "worker_id",
        "worker_timeout",
        "connect_timeout",
        "auth_token_file",
        "tls_cert",
        "tls_key",
        "tls_ca",
    ),
}
FLAT = {
    **{name: (part, name) for part, names in _SAME_NAMES.items() for name in names},
    "space": ("space", "spec"),
    "latency_batch_size": ("latency", "batch_size"),
    "latency_runtime": ("latency", "runtime"),
    "latency_threads": ("latency", "threads"),
    "confirm": ("confirm", "top"),
    "confirm_seeds": ("confirm", "seeds"),
}
# The flat arguments that are the config's own fields.
OWN = ("run_dir", "seed", "resume", "verbose")

# Arguments that define a search: resuming with different ones would mix two searches, and
# distributed workers must agree with their chief on them.
DEFINING = (
    "space",
    "model",
    "hypermodel",
    "dataset",
    "train_size",
    "tuner",
    "max_trials",
    "epochs",
    "penalty",
    "target_macs",
    "max_macs",
    "seed",
    "batch_size",
    "learning_rate",
    "schedule",
    "score_epochs",
    "population_size",
    "strategy",
    "supernet_epochs",
    "evaluate",
    "loss",
    "metric",
    "input_range",
    "warm_start",
    "include_frozen",
    "widths",
    "min_kernel_size",
    "round_to",
    "cost",
    "target_latency",
    "max_latency",
    "latency_batch_size",
    "latency_runtime",
    "latency_threads",
)
# DEFINING arguments added after the first runs were recorded (see `SearchConfig.digest`).
_ADDED_LATER = ("hypermodel",)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """A search job: its parts, each a small object that checks its own arguments, and the few
    settings of the run itself.

    Each part may be given as the part, or left at its defaults. For the two every search names,
    a plain value is taken as the part: `space="googlenet"` (a YAML name or path) is
    `SpaceSource("googlenet")`, a `keras.Model` is `SpaceSource(spec=None, model=...)`, and
    `data=(x, y)` (or any data set spec) is `DataSource((x, y))`. `from_arguments` makes one
    from the flat arguments the CLI's flags and `config.json` use.

    Args:
        space: what is searched (`SpaceSource`).
        data: the data (`DataSource`).
        task: what is learned, where not read from the model (`TaskOverrides`).
        training: how each trial trains (`TrialTraining`).
        objective: what accuracy is weighed against, and the hard budgets (`SearchObjective`).
        proposer: the tuner or one-shot strategy, and how many trials (`Proposer`).
        trainers: trainer processes on this machine (`TrainerProcesses`).
        distribution: this process' role in a distributed search (`Distribution`).
        latency: how the latency table measures, when one is used (`LatencySettings`).
        confirm: the confirmation stage (`Confirmation`).
        run_dir: the run directory; `runs/<space or model name>-<time>` when None.
        seed: seeds the tuner, the data split and Keras.
        resume: continue the run in `run_dir`.
        verbose: show Keras Tuner's and Keras' own progress output.

    Raises:
        SearchConfigError: a part's argument out of range, or parts that do not fit together
            (a one-shot search with trainer processes or workers, say).

    Example:

    ```python
    config = SearchConfig(
        space="inception_mini",
        proposer=Proposer(tuner="evolution", max_trials=12),
        training=TrialTraining(epochs=2),
        confirm=Confirmation(top=0),
        run_dir="runs/try",
    )
    ```
    """

    space: SpaceSource = SpaceSource()
    data: DataSource = DataSource()
    task: TaskOverrides = TaskOverrides()
    training: TrialTraining = TrialTraining()
    objective: SearchObjective = SearchObjective()
    proposer: Proposer = Proposer()
    trainers: TrainerProcesses = TrainerProcesses()
    distribution: Distribution = Distribution()
    latency: LatencySettings = LatencySettings()
    confirm: Confirmation = Confirmation()
    run_dir: str | None = None
    seed: int = 0
    resume: bool = False
    verbose: bool = False

    def __post_init__(self):
        if not isinstance(self.space, SpaceSource):
            given = self.space
            is_model = given is not None and not isinstance(given, str | os.PathLike)
            source = SpaceSource(spec=None, model=given) if is_model else SpaceSource(given)
            object.__setattr__(self, "space", source)
        if not isinstance(self.data, DataSource):
            object.__setattr__(self, "data", DataSource(self.data))
        check_parts(self, PARTS)
        check_flag("resume", self.resume)
        check_flag("verbose", self.verbose)
        self._check_parts_fit()

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> SearchConfig:
        """A config from flat arguments (the CLI's flags by their Python names, `config.json`'s
        `arguments`); unknown keys are ignored and missing ones take their defaults.

        Raises:
            SearchConfigError: as the parts do; the error names the flat argument
                (`latency_batch_size`, not `batch_size`).
        """
        own = {key: arguments[key] for key in OWN if key in arguments}
        return cls(**parts_from_arguments(arguments, FLAT, PARTS), **own)

    def arguments(self) -> dict[str, Any]:
        """The flat arguments of this config, as `config.json` records them and
        `from_arguments` reads them."""
        return {**flat_arguments(self, FLAT), **{key: getattr(self, key) for key in OWN}}

    def replace(self, **arguments) -> SearchConfig:
        """This config with some flat arguments changed (`config.replace(epochs=2)`)."""
        return SearchConfig.from_arguments({**self.arguments(), **arguments})

    @property
    def fixed_trials(self) -> int | None:
        """The number of trials the search runs, or None when the tuner decides (Hyperband)."""
        return None if self.proposer.tuner == "hyperband" else self.proposer.max_trials

    @property
    def trial_budget(self) -> int:
        """The trials the search runs at most (Hyperband: a generous bound from the epochs)."""
        return self.fixed_trials or 10 * self.training.epochs

    @property
    def trials_per_trainer(self) -> int:
        """Trials each trainer process runs before it is replaced; 0: trials run in this process.

        Trainer processes bound the search's memory (TensorFlow never gives back what a fitted
        model kept) and survive a trial that crashes, runs out of memory or hangs. They are on by
        default where that matters more than their start-up (about 5 s each): searches of more
        than `TRIALS_PER_TRAINER` trials, or with a trial timeout or a memory limit.
        """
        if self.distribution.active:
            return 0
        if self.trainers.trials_per_process is not None:
            return self.trainers.trials_per_process
        limited = bool(self.trainers.limits)
        return TRIALS_PER_TRAINER if limited or self.trial_budget > TRIALS_PER_TRAINER else 0

    @property
    def oneshot_budget(self) -> tuple[int, int]:
        """`(supernet epochs, evaluations)` of a one-shot search, defaults applied."""
        proposer = self.proposer
        epochs = proposer.supernet_epochs
        evaluations = proposer.evaluate
        return (
            epochs if epochs is not None else 2 * self.training.epochs,
            evaluations if evaluations is not None else ONESHOT_EVALUATIONS,
        )

    @property
    def confirmation(self) -> tuple[int, int]:
        """`(architectures, seeds)` of the confirmation stage. On `digits`, the offline demo data,
        2 x 2 keeps the default search within minutes; on real data 3 x 3."""
        light = self.data.is_demo
        top = self.confirm.top if self.confirm.top is not None else (2 if light else 3)
        seeds = self.confirm.seeds if self.confirm.seeds is not None else (2 if light else 3)
        return top, seeds

    def _check_parts_fit(self) -> None:
        """Refuses parts that do not fit together (each checked its own arguments when made),
        naming the arguments that do not fit and what to change."""
        proposer, trainers, distribution = self.proposer, self.trainers, self.distribution
        if proposer.strategy == "mirrored":
            import keras

            if keras.backend.backend() != "tensorflow":
                raise SearchConfigError(
                    "strategy='mirrored' is TensorFlow's tf.distribute; this process uses the "
                    f"{keras.backend.backend()} backend. Run it on the TensorFlow backend "
                    "(KERAS_BACKEND=tensorflow). Received: strategy='mirrored'.",
                    argument="strategy",
                )
        if proposer.strategy == "oneshot":
            unfit = [
                name
                for name, used in (
                    ("chief", distribution.chief is not None),
                    ("worker", distribution.worker is not None),
                    ("trials_per_process", trainers.trials_per_process is not None),
                    ("trial_timeout", trainers.trial_timeout is not None),
                    ("trainer_memory", trainers.trainer_memory is not None),
                )
                if used
            ]
            if unfit:
                raise SearchConfigError(
                    "strategy='oneshot' trains one supernet in this process and chooses what to "
                    f"evaluate itself; {', '.join(unfit)} "
                    f"{'belong' if len(unfit) > 1 else 'belongs'} to a trial-by-trial search. "
                    f"Leave them unset. Received: {_received(self, unfit)}.",
                    argument=unfit[0],
                )
        if self.space.hypermodel is not None:
            objective = self.objective
            unfit = [
                name
                for name, used in (
                    ("strategy", proposer.strategy == "oneshot"),
                    ("cost", objective.cost != "macs"),
                    ("target_latency", objective.target_latency is not None),
                    ("max_latency", objective.max_latency is not None),
                )
                if used
            ]
            if unfit:
                raise SearchConfigError(
                    "hypermodel= searches your build(hp) trial by trial, each model costed in "
                    "MACs as counted (count_flops); a one-shot supernet and latency tables need "
                    f"a SearchSpace. Leave {', '.join(unfit)} unset. Received: "
                    f"{_received(self, unfit)}.",
                    argument=unfit[0],
                )
        if distribution.active and trainers.asked_for:
            raise SearchConfigError(
                f"{', '.join(trainers.asked_for)} supervise trainer processes of a search on one "
                "machine; a distributed search's workers are processes of their own (restart a "
                "worker to give its memory back). Leave them unset on the chief and workers. "
                f"Received: {_received(self, trainers.asked_for)}.",
                argument=trainers.asked_for[0],
            )

    def load_data(self, input_shape, download: bool | None = None, value_range=(0.0, 1.0)):
        """The config's data set adapted to `input_shape` with pixels in `value_range` (see
        `load_dataset`); `download` overrides the data source's own."""
        from bottleneck_search.data import load_dataset

        data = self.data
        return load_dataset(
            data.dataset,
            input_shape,
            data.batch_size,
            seed=self.seed,
            data_dir=data.data_dir,
            download=data.download if download is None else download,
            train_size=data.train_size,
            value_range=value_range,
        )

    def with_default_run_dir(self) -> SearchConfig:
        """This config with `run_dir` set: as given, or `runs/<space or model name>-<time>`."""
        if self.run_dir:
            return self
        return dataclasses.replace(self, run_dir=default_run_dir(self.space.name))

    def digest(self) -> str:
        """A short hash of the arguments that define the search; a chief and its workers agree on it."""
        arguments = self.arguments()
        # Arguments added since runs were first recorded count only when set, so that older
        # runs keep their hash.
        chosen = {
            key: arguments[key]
            for key in DEFINING
            if arguments[key] is not None or key not in _ADDED_LATER
        }
        return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode("utf-8")).hexdigest()[:16]

    def check_same_search(self, saved: dict[str, Any]) -> None:
        """Refuses to resume a run whose recorded `arguments` define another search.

        Raises:
            SearchConfigError: listing each differing argument, recorded -> now.
        """
        current = self.arguments()
        differing = [key for key in DEFINING if key in saved and saved[key] != current[key]]
        if differing:
            changes = ", ".join(f"{key}: {saved[key]!r} -> {current[key]!r}" for key in differing)
            raise SearchConfigError(
                f"Cannot resume '{self.run_dir}' with different search arguments ({changes}). Resume "
                "with the original arguments, or start a new run directory."
            )


def _received(config: SearchConfig, flat_names) -> str:
    arguments = config.arguments()
    return ", ".join(f"{name}={arguments[name]!r}" for name in flat_names)
