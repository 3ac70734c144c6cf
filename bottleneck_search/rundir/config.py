"""`SearchConfig`, the arguments of a search, and the run's `config.json` that records them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from bottleneck_search.argument_validation import check_choice, check_count, check_flag
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.policy import (
    DEFAULT_SPACE,
    MODES,
    ONESHOT_EVALUATIONS,
    STRATEGIES,
    TRIALS_PER_TRAINER,
    TUNERS,
)
from bottleneck_search.rundir.config_checks import (
    check_latency,
    check_oneshot,
    check_population,
    check_security,
    check_trainers,
)

# Arguments that define a search: resuming with different ones would mix two searches, and
# distributed workers must agree with their chief on them.
DEFINING = (
    "space",
    "model",
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


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Every argument of a search job (the CLI's flags, one to one; the CLI takes its defaults
    from here).

    Attributes:
        space: a YAML backbone path, or the name of one shipped in `search_spaces/` (e.g. `googlenet`).
        model: a `.keras` model to search instead of `space`; from Python also a `keras.Model`
            (saved into the run directory as `original.keras`).
        dataset: a data set spec (see `load_dataset`), or from Python data in memory (`(x, y)`
            arrays, an unbatched `tf.data.Dataset`, a `keras.utils.PyDataset`), written into
            the run as `data.npz` so that every later job reads it; labels may be targets of
            any task (see `data.sources`).
        train_size: train and validate on a stratified subsample of this many training images.
        tuner: `random`, `bayesian`, `hyperband`, `grid` or `evolution`.
        max_trials: trials to run (Hyperband decides its own count from `epochs`).
        population_size: `evolution`'s population (None: 8, or half of `max_trials` when smaller).
        epochs: epochs per trial (Hyperband: the most any trial gets).
        penalty: `soft`, `hard` or `linear` (see `FlopPenalty`).
        target_macs: the penalty's target; the space's reference MACs when None.
        max_macs: hard budget: architectures above it are never trained.
        run_dir: the run directory; `runs/<space>-<time>` when None.
        seed: seeds the tuner, the data split and Keras.
        batch_size: training batch size.
        learning_rate, schedule, score_epochs: the trials' `TrainingRecipe`.
        confirm: after the search, retrain this many of the best Pareto-front architectures
            (plus no bottleneck and the reference) from scratch; 0 turns the stage off. None:
            3, or 2 on `digits` (see `confirmation`).
        confirm_seeds: seeds per confirmed architecture. None: 3, or 2 on `digits`.
        data_dir: where to look first for the Keras-named data sets; TFDS' data directory.
        download: let `keras.datasets` or TFDS download a data set that is not on disk.
        resume: continue the run in `run_dir`.
        verbose: show Keras Tuner's and Keras' own progress output.
        chief: `HOST:PORT` to serve the search's oracle on (this process runs no trials).
        worker: `HOST:PORT` of the chief whose trials this process runs.
        worker_id: this worker's Keras Tuner id (default `worker-<host>-<pid>`).
        worker_timeout: seconds without news from a worker after which the chief re-issues its trial.
        connect_timeout: seconds a worker waits for its chief before giving up, at start and
            on every call (a restarted chief has that long to come back).
        auth_token_file: chief and workers: a file (mode 0600) holding the run's token; None:
            `BOTTLENECK_SEARCH_TOKEN`, else the chief's run directory's `auth-token` (see
            `search.jobs.auth`).
        tls_cert, tls_key: chief: serve over TLS with this PEM certificate (chain) and key.
        tls_ca: worker: connect over TLS and verify the chief's certificate against this PEM CA.
        strategy: None trains each trial on its own; `"mirrored"` trains each trial with
            `tf.distribute.MirroredStrategy`; `"oneshot"` trains one weight-sharing supernet and
            scores architectures with its weights (`search.jobs.oneshot`).
        supernet_epochs: `oneshot`: epochs the supernet trains (None: twice `epochs`).
        evaluate: `oneshot`: evaluate every architecture of a space of at most this many, else
            this many chosen by evolution (None: `ONESHOT_EVALUATIONS`).
        max_consecutive_failures: the search stops once this many trials in a row have failed
            (Keras Tuner's `max_consecutive_failed_trials`); a failure alone never stops it.
        trials_per_process: run the trials in trainer processes, each replaced by a fresh one
            after this many trials; 0 trains in the search's own process. None: 20 for a search
            of more than 20 trials or with `trial_timeout` or `trainer_memory`, else 0 (see
            `trials_per_trainer`).
        trial_timeout: seconds a trial (build and training) may take in its trainer process;
            one that takes longer is stopped and recorded as failed.
        trainer_memory: MiB; a trainer process whose peak resident memory has passed this is
            replaced after its current trial.
        loss, metric: override the loss and the scoring metric (Keras names) that a `--model`'s
            compile settings or output imply (see `training.inference`).
        input_range: `auto` (from the model's own preprocessing), `unit` ([0, 1]) or `raw`
            (0-255): the range images are fed in (see `training.inputs`).
        warm_start: start every architecture of a `--model` search from the model's trained
            weights (low-rank reductions, as `compress`); off: every architecture from scratch.
        include_frozen: let a `--model`'s frozen convs be sites (a reduced one then trains).
        widths, min_kernel_size: a `--model`'s sites: the widths offered (fractions of a site's
            input channels, or counts; None: 0.25 and 0.5) and the smallest kernel that is a site.
        round_to: a `--model`'s fractional widths are rounded to a multiple of this (None: 8).
        cost: what accuracy is weighed against: `macs`, or `latency` (predicted by the space's
            latency table, measured on this machine once and cached; `bottleneck_search.latency`).
        target_latency: the penalty's target with `cost="latency"`, milliseconds per call (None:
            the reference's predicted latency).
        max_latency: hard budget, milliseconds per call predicted: slower architectures are
            never trained (with either cost).
        latency_batch_size, latency_runtime, latency_threads: how the latency table measures
            (batch size per call, `keras` or `onnxruntime`, threads; None: the runtime's default).

    Example:

    ```python
    config = SearchConfig(max_trials=4, epochs=2, run_dir="runs/try")
    config.check()
    ```
    """

    space: str | None = DEFAULT_SPACE
    model: Any = None
    dataset: Any = "digits"
    train_size: int | None = None
    tuner: str = "random"
    max_trials: int = 10
    population_size: int | None = None
    epochs: int = 4
    penalty: str = "soft"
    target_macs: int | None = None
    max_macs: int | None = None
    run_dir: str | None = None
    seed: int = 0
    batch_size: int = 32
    learning_rate: float = 2e-3
    schedule: str = "cosine"
    score_epochs: int = 1
    confirm: int | None = None
    confirm_seeds: int | None = None
    data_dir: str | None = None
    download: bool = False
    resume: bool = False
    verbose: bool = False
    chief: str | None = None
    worker: str | None = None
    worker_id: str | None = None
    worker_timeout: float = 60.0
    connect_timeout: float = 30.0
    auth_token_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    strategy: str | None = None
    supernet_epochs: int | None = None
    evaluate: int | None = None
    max_consecutive_failures: int = 3
    trials_per_process: int | None = None
    trial_timeout: float | None = None
    trainer_memory: int | None = None
    loss: str | None = None
    metric: str | None = None
    input_range: str = "auto"
    warm_start: bool = False
    include_frozen: bool = False
    widths: list | None = None
    min_kernel_size: int = 3
    round_to: int | None = None
    cost: str = "macs"
    target_latency: float | None = None
    max_latency: float | None = None
    latency_batch_size: int = 1
    latency_runtime: str = "keras"
    latency_threads: int | None = None

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> SearchConfig:
        """A config from recorded arguments (`config.json`); unknown keys are ignored and missing
        ones take their defaults."""
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in arguments.items() if k in fields})

    @property
    def uses_latency(self) -> bool:
        """Whether the search needs the space's latency table (`cost` latency or `max_latency`)."""
        return self.cost == "latency" or self.max_latency is not None

    @property
    def distributed(self) -> bool:
        """Whether this process is a distributed search's chief or one of its workers."""
        return self.chief is not None or self.worker is not None

    @property
    def fixed_trials(self) -> int | None:
        """The number of trials the search runs, or None when the tuner decides (Hyperband)."""
        return None if self.tuner == "hyperband" else self.max_trials

    @property
    def trials_per_trainer(self) -> int:
        """Trials each trainer process runs before it is replaced; 0: trials run in this process.

        Trainer processes bound the search's memory (TensorFlow never gives back what a fitted
        model kept) and survive a trial that crashes, runs out of memory or hangs. They are on by
        default where that matters more than their start-up (about 5 s each): searches of more
        than `TRIALS_PER_TRAINER` trials, or with a trial timeout or a memory limit.
        """
        if self.distributed:
            return 0
        if self.trials_per_process is not None:
            return self.trials_per_process
        limited = self.trial_timeout is not None or self.trainer_memory is not None
        return TRIALS_PER_TRAINER if limited or self.trial_budget > TRIALS_PER_TRAINER else 0

    @property
    def trial_budget(self) -> int:
        """The trials the search runs at most (Hyperband: a generous bound from `epochs`)."""
        return self.fixed_trials or 10 * self.epochs

    def check(self) -> None:
        """Checks the arguments that need no file, data or model.

        Raises:
            SearchConfigError: naming the argument, what it was and what is expected.
        """
        check_choice("tuner", self.tuner, TUNERS)
        if self.chief is not None and self.worker is not None:
            raise SearchConfigError(
                "A process is either the chief or a worker, not both. Received: "
                f"chief={self.chief!r}, worker={self.worker!r}.",
                argument="worker",
            )
        if self.strategy is not None:
            check_choice(
                "strategy", self.strategy, STRATEGIES, hint="None trains each trial alone."
            )
        if self.strategy == "mirrored":
            import keras

            if keras.backend.backend() != "tensorflow":
                raise SearchConfigError(
                    "strategy='mirrored' is TensorFlow's tf.distribute; this process uses the "
                    f"{keras.backend.backend()} backend. Run it on the TensorFlow backend "
                    "(KERAS_BACKEND=tensorflow). Received: strategy='mirrored'.",
                    argument="strategy",
                )
        check_oneshot(self)
        model_only = [
            name
            for name, used in (
                ("warm_start", self.warm_start),
                ("include_frozen", self.include_frozen),
                ("widths", self.widths is not None),
                ("min_kernel_size", self.min_kernel_size != 3),
                ("round_to", self.round_to is not None),
            )
            if used
        ]
        if model_only and self.model is None:
            received = ", ".join(f"{name}={getattr(self, name)!r}" for name in model_only)
            raise SearchConfigError(
                f"{', '.join(model_only)} shape the space of a model search; a YAML space sets "
                f"its own widths. Give a model or leave them at their defaults. Received: "
                f"{received}, model=None.",
                argument=model_only[0],
            )
        for name in (
            "max_trials",
            "epochs",
            "batch_size",
            "max_consecutive_failures",
            "min_kernel_size",
        ):
            check_count(name, getattr(self, name))
        check_choice("penalty", self.penalty, MODES)
        for name in ("target_macs", "max_macs"):
            if getattr(self, name) is not None:
                check_count(name, getattr(self, name))
        for name in ("warm_start", "include_frozen", "download", "resume", "verbose"):
            check_flag(name, getattr(self, name))
        if self.population_size is not None:
            if self.tuner != "evolution":
                raise SearchConfigError(
                    "`population_size` is the evolution tuner's; this search's tuner is "
                    f"{self.tuner!r}. Set tuner='evolution' or leave population_size unset. "
                    f"Received: population_size={self.population_size!r}.",
                    argument="population_size",
                )
            check_population(self.population_size, self.max_trials)
        self.recipe()  # checks its own arguments
        if self.confirm is not None:
            check_count("confirm", self.confirm, least=0, hint="0 turns the stage off.")
        if self.confirm_seeds is not None:
            check_count("confirm_seeds", self.confirm_seeds)
        check_trainers(self)
        check_security(self)
        check_latency(self)

    @property
    def oneshot_budget(self) -> tuple[int, int]:
        """`(supernet epochs, evaluations)` of a one-shot search, defaults applied."""
        epochs = self.supernet_epochs if self.supernet_epochs is not None else 2 * self.epochs
        return epochs, self.evaluate if self.evaluate is not None else ONESHOT_EVALUATIONS

    @property
    def confirmation(self) -> tuple[int, int]:
        """`(architectures, seeds)` of the confirmation stage. On `digits`, the offline demo data,
        2 x 2 keeps the default search within minutes; on real data 3 x 3."""
        light = self.dataset == "digits"
        top = self.confirm if self.confirm is not None else (2 if light else 3)
        seeds = self.confirm_seeds if self.confirm_seeds is not None else (2 if light else 3)
        return top, seeds

    def recipe(self):
        """The trials' `TrainingRecipe`."""
        from bottleneck_search.recipe import TrainingRecipe

        return TrainingRecipe(
            learning_rate=self.learning_rate, schedule=self.schedule, score_epochs=self.score_epochs
        )

    def load_data(self, input_shape, download: bool | None = None, value_range=(0.0, 1.0)):
        """The config's data set adapted to `input_shape` with pixels in `value_range` (see
        `load_dataset`); `download` overrides the config's own."""
        from bottleneck_search.data import load_dataset

        return load_dataset(
            self.dataset,
            input_shape,
            self.batch_size,
            seed=self.seed,
            data_dir=self.data_dir,
            download=self.download if download is None else download,
            train_size=self.train_size,
            value_range=value_range,
        )

    def with_default_run_dir(self) -> SearchConfig:
        """This config with `run_dir` set: as given, or `runs/<space or model name>-<YYYYmmdd-HHMMSS>`."""
        if self.run_dir:
            return self
        named = self.model if self.model is not None else self.space
        stem = Path(named).stem if isinstance(named, str | os.PathLike) else named.name
        return dataclasses.replace(
            self, run_dir=os.path.join("runs", f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}")
        )

    def digest(self) -> str:
        """A short hash of the arguments that define the search; a chief and its workers agree on it."""
        chosen = {key: getattr(self, key) for key in DEFINING}
        return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode("utf-8")).hexdigest()[:16]

    def check_same_search(self, saved: dict[str, Any]) -> None:
        """Refuses to resume a run whose recorded `arguments` define another search.

        Raises:
            SearchConfigError: listing each differing argument, recorded -> now.
        """
        current = dataclasses.asdict(self)
        differing = [key for key in DEFINING if key in saved and saved[key] != current[key]]
        if differing:
            changes = ", ".join(f"{key}: {saved[key]!r} -> {current[key]!r}" for key in differing)
            raise SearchConfigError(
                f"Cannot resume '{self.run_dir}' with different search arguments ({changes}). Resume "
                "with the original arguments, or start a new run directory."
            )
