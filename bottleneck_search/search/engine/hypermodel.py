"""`BottleneckHyperModel`: a Keras Tuner `HyperModel` over a `SearchSpace`, whose `fit` trains
under a `TrainingRecipe` and returns the trial's FLOP-penalised score, read at the end of training.

Because the score is an ordinary metric (`val_score`) returned from `fit`, every stock tuner, its
results summary and its distributed mode work unchanged. The epoch logs carry the per-epoch score
as `val_epoch_score`, not as the objective, so Keras Tuner's checkpoint of a trial is the weights
of its final epoch: the model that was scored.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from collections.abc import Callable

import keras
import keras_tuner as kt

from bottleneck_search.compat import trial_of
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.recipe import TrainingRecipe
from bottleneck_search.rundir.files import is_storage_error
from bottleneck_search.rundir.trial_log import TrialLog, TrialRecord, TrialStatus, scored_value
from bottleneck_search.search.engine.callbacks import (
    CostMetrics,
    StopWhenRequested,
    cost_logs,
    with_cost_hparams,
)
from bottleneck_search.search.engine.failures import stop_if_our_bug
from bottleneck_search.search.engine.objective import (
    OBJECTIVE,
    CostPenalty,
    check_budgets,
    most_costly,
    over_budget,
)
from bottleneck_search.search.engine.observer import TrialObserver
from bottleneck_search.search.engine.stand_ins import (
    BuiltModel,
    report_without_training,
    stand_in_model,
)
from bottleneck_search.search.engine.training import compile_with_recipe, trial_optimizer
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.hyperparameters import architecture_from_hp, site_widths
from bottleneck_search.space.search_space import SearchSpace
from bottleneck_search.space.user_build import UserBuild, check_user_build_options
from bottleneck_search.training.fit import compile_model, fit_model
from bottleneck_search.training.inference import task_from_model
from bottleneck_search.training.task import Task

# A fixed hyperparameter holding the search's config hash, which distributed workers check.
CONFIG_HP = "bottleneck_search/config"
# With CONFIG_HP, the sha256 of a user's build's file, which distributed workers check.
CODE_HP = "bottleneck_search/hypermodel_sha256"
# The per-epoch penalised score in the epoch logs (the objective itself is the trial's, at the end).
EPOCH_SCORE = "val_epoch_score"


class BottleneckHyperModel(kt.HyperModel):
    """A `keras_tuner.HyperModel` whose trials are scored by accuracy against counted MACs.

    Its models come from a `SearchSpace` (`<site>/reduce` and `<site>/width` per site, costed
    in closed form), or from your own `build(hp)` with `bottleneck_conv` sites and any
    hyperparameters of yours: each model is then built and compiled by your code and counted
    (`count_flops`), and your build runs once with its defaults when the hypermodel is made, so
    a mistake in it stops here. `architecture_of(model)` gives a built model's sites and costs.

    `fit(...)` trains with `CostMetrics` (epoch logs: `val_epoch_score`, `macs`, `flops`,
    `params`) and returns the final metrics with `val_score`, the tuner's objective: the
    penalised metric at the end of training as `recipe.final_accuracy` reads it. A space's
    models train with the recipe's optimizer (Adam, warm-up, cosine decay) unless `optimizer`
    is given; yours keep your compile. A model over `max_macs` or `max_latency_us` is never
    trained: `build` returns a weightless stand-in, reported at once below any trained trial.

    Args:
        source: a `SearchSpace`, or your own `build(hp)` function or `keras_tuner.HyperModel`
            (returning a compiled model; a HyperModel's own `fit` trains when it has one and
            must return the `History`).
        optimizer: for a space, None for the recipe's optimizer, or your own optimizer name or
            instance (an instance is copied for every trial).
        task: the `Task` (loss, metrics, and the metric `task.score` that, penalised, scores a
            trial in `task.direction`); a softmax classifier's for a space, your compile's
            (`task_from_model`) for your build, when None.
        penalty: the `CostPenalty`; its target defaults to the space's reference MACs, or to
            those of your build's model with its default hyperparameters.
        max_macs: hard budget; architectures above it are recorded as infeasible, never trained.
        max_latency_us: hard budget on the predicted latency (microseconds per call; needs a
            space with a latency table, `SearchSpace.with_latency`), applied the same way.
        measure_latency: measures a trained model's latency in microseconds (the search
            passes one with its latency table's settings); the trial records it.
        trial_log: path of a `trials.jsonl` to append every finished trial to, or None.
        observer: a `TrialObserver` told of every trial (progress, stop requests, liveness).
        config_hash: declared as the fixed hyperparameter `bottleneck_search/config` (with your
            build's file's sha256), so that distributed workers can check they run the
            chief's search.
        name: the hypermodel's name.
        tunable: as for `keras_tuner.HyperModel`.
        recipe: the `TrainingRecipe`; its defaults when None.

    Raises:
        SearchConfigError: your build is not callable, fails with its defaults, returns no
            compiled model, or comes with options that need a space (`optimizer`, a latency
            cost or budget); budgets no architecture of a space meets.

    Example:

    ```python
    space = SearchSpace.from_yaml("search_spaces/inception_mini.yaml")
    hypermodel = BottleneckHyperModel(space, penalty=CostPenalty("soft"))
    tuner = keras_tuner.RandomSearch(hypermodel, objective=keras_tuner.Objective("val_score", "max"),
                                     max_trials=1, directory=tmp, project_name="example")
    tuner.search(data.train, validation_data=data.val, epochs=1, verbose=0)
    ```
    """

    def __init__(
        self,
        source: SearchSpace | Callable[[kt.HyperParameters], keras.Model] | kt.HyperModel,
        optimizer: str | keras.optimizers.Optimizer | None = None,
        task: Task | None = None,
        penalty: CostPenalty | None = None,
        max_macs: int | None = None,
        max_latency_us: float | None = None,
        measure_latency: Callable[[keras.Model], float] | None = None,
        trial_log: str | os.PathLike | None = None,
        observer: TrialObserver | None = None,
        config_hash: str | None = None,
        name: str | None = None,
        tunable: bool = True,
        *,
        recipe: TrainingRecipe | None = None,
    ):
        penalty = penalty or CostPenalty()
        if isinstance(source, SearchSpace):
            self.space, self.user_build = source, None
            self.task = task or Task()
            self.penalty = penalty.resolve(source)
            check_budgets(source, max_macs, max_latency_us)
        else:
            self.space = None
            self.user_build = source if isinstance(source, UserBuild) else UserBuild(source)
            check_user_build_options(optimizer, penalty.cost, max_latency_us)
            self.task = task or task_from_model(self.user_build.task_model)
            self.penalty = penalty.resolve(self.user_build)  # neutral where the search starts
        super().__init__(name=name or self._source_name(), tunable=tunable)
        self.optimizer = optimizer
        self.recipe = recipe or TrainingRecipe()
        self.max_macs = max_macs
        self.max_latency_us = max_latency_us
        self.measure_latency = measure_latency
        self.trial_log = TrialLog(trial_log) if trial_log is not None else None
        self.observer = observer or TrialObserver()
        # A per-batch callback only for an observer that can ask to stop: it runs every batch.
        self._can_stop = type(self.observer).stop_requested is not TrialObserver.stop_requested
        self.config_hash = config_hash
        # What `build` made of each model it returned, read by `fit` (a model is left as Keras
        # made it; the record goes with the model).
        self._built: weakref.WeakKeyDictionary[keras.Model, BuiltModel] = (
            weakref.WeakKeyDictionary()
        )
        # The score of an over-budget trial: below that of any trained one, whose cost is at
        # most the budget (a user's build) or the space's most costly architecture.
        most = (
            self.penalty.cost_of(most_costly(self.space, self.penalty.cost))
            if self.space is not None
            else max_macs
        )
        self._floor = self.penalty.floor(most, self.task.direction) if most else None

    def _source_name(self) -> str:
        return self.space.name if self.space is not None else self.user_build.name

    def replace(self, **changes) -> BottleneckHyperModel:
        """A copy with some constructor arguments changed, validated like a new one."""
        kept = ("optimizer", "task", "penalty", "max_macs", "max_latency_us", "measure_latency")
        kept += ("observer", "config_hash", "name", "tunable", "recipe")
        arguments = {name: getattr(self, name) for name in kept}
        arguments["source"] = self.space if self.space is not None else self.user_build
        arguments["trial_log"] = self.trial_log.path if self.trial_log is not None else None
        return BottleneckHyperModel(**{**arguments, **changes})

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        if self.observer.stop_requested():
            raise KeyboardInterrupt
        if self.config_hash is not None:
            hp.Fixed(CONFIG_HP, self.config_hash)
            if self.user_build is not None and self.user_build.code is not None:
                hp.Fixed(CODE_HP, self.user_build.code.sha256)
        if self.user_build is not None:
            return self._build_users(hp)
        architecture = architecture_from_hp(self.space, hp)
        if over_budget(architecture, self.max_macs, self.max_latency_us):
            return self._stand_in(architecture, infeasible=True)
        try:
            model = self.space.build(architecture)
            compile_model(model, self.task, trial_optimizer(self.optimizer, self.recipe))
        except (KeyboardInterrupt, SearchConfigError):
            raise
        except Exception as error:
            stop_if_our_bug(error, "building an architecture")
            return self._stand_in(architecture, build_error=_build_failure(error))
        self._built[model] = BuiltModel(architecture)
        return model

    def _build_users(self, hp: kt.HyperParameters) -> keras.Model:
        """The user's model for `hp`, counted; a weightless stand-in when over the budget."""
        try:
            model = self.user_build.build(hp)
        except (KeyboardInterrupt, SearchConfigError):
            raise
        except Exception as error:  # their code, not ours: the trial fails, the search goes on
            sites = Architecture.from_widths(site_widths(hp))
            return self._stand_in(sites, build_error=_build_failure(error))
        architecture = self.user_build.architecture(model, hp)
        if over_budget(architecture, self.max_macs, self.max_latency_us):
            return self._stand_in(architecture, infeasible=True)
        self._built[model] = BuiltModel(architecture)
        return model

    def _stand_in(self, architecture: Architecture, **why) -> keras.Model:
        """A weightless stand-in for `architecture`, which will not train (`why`: infeasible,
        or the build's error, which `fit` records under the trial's id: `build` knows none)."""
        model = stand_in_model()
        self._built[model] = BuiltModel(architecture, **why)
        return model

    def architecture_from_hp(self, hp: kt.HyperParameters) -> Architecture:
        """The architecture `build` makes for `hp`, with its costs: a space's in closed form,
        your build's counted on the model it builds (once per set of values)."""
        if self.user_build is not None:
            return self.user_build.architecture_from_values(self._recorded_values(hp))
        return architecture_from_hp(self.space, hp.copy())

    def _recorded_values(self, hp: kt.HyperParameters) -> dict | None:
        """What a trial records of `hp`: your build's every value (the sites are in its
        architecture); None for a space, whose architecture is the whole of its values."""
        if self.user_build is None:
            return None
        return {k: v for k, v in hp.values.items() if k not in (CONFIG_HP, CODE_HP)}

    def architecture_of(self, model: keras.Model) -> Architecture:
        """The architecture `build` made `model` from (with its closed-form MACs).

        Raises:
            SearchConfigError: `model` was not returned by this hypermodel's `build`.

        Example:

        ```python
        hypermodel = BottleneckHyperModel(space)
        model = hypermodel.build(keras_tuner.HyperParameters())
        assert hypermodel.architecture_of(model).macs == count_flops(model).macs
        ```
        """
        built = self._built.get(model)
        if built is None:
            raise SearchConfigError(
                f"Model '{model.name}' was not built by this BottleneckHyperModel's build(hp); "
                "pass the model its build returned."
            )
        return built.architecture

    def fit(self, hp: kt.HyperParameters, model: keras.Model, *args, callbacks=None, **kwargs):
        try:
            return self._run_trial(hp, model, list(callbacks or []), args, kwargs)
        except OSError as error:
            if not is_storage_error(error):
                raise
            # A full disk or a read-only run directory fails every later trial the same way.
            raise kt.errors.FatalError(f"{error.strerror}: '{error.filename}'") from error

    def _run_trial(self, hp, model, callbacks: list, args, kwargs):
        built = self._built.get(model)
        if built is None:
            raise kt.errors.FatalValueError(
                f"BottleneckHyperModel.fit got model '{model.name}', which its build(hp) did not "
                "return; a tuner passes fit the model build made."
            )
        architecture = built.architecture
        trial = trial_of(callbacks)
        trial_id = trial.trial_id if trial is not None else None
        start = time.monotonic()
        values = self._recorded_values(hp)
        if built.infeasible:
            return self._reject(model, architecture, callbacks, trial_id, start, values)
        if built.build_error is not None:
            self._failed(trial_id, architecture, built.build_error, start, values)
            raise kt.errors.FailedTrialError(f"Trial {trial_id}: {built.build_error}")
        if self.optimizer is None and self.space is not None:  # a user's build compiled its own
            compile_with_recipe(model, self.task, self.recipe, args, kwargs)
        callbacks = [
            CostMetrics(architecture, self.penalty, self.task, score_key=EPOCH_SCORE),
            *([StopWhenRequested(self.observer.stop_requested)] if self._can_stop else []),
            keras.callbacks.TerminateOnNaN(),
            *with_cost_hparams(callbacks, hp.values, architecture, trial_id),
        ]
        self.observer.training_started(trial_id)
        try:
            # Keras Tuner passes `tuner.search`'s arguments through; Keras' own defaults
            # (shuffled arrays, one epoch) hold where the user's search did not set them.
            history = self._train(hp, model, callbacks, trial_id, args, kwargs)
        except SearchConfigError as error:
            # A configuration mistake, not a bad architecture: stop the whole search.
            raise kt.errors.FatalValueError(str(error)) from error
        except Exception as error:
            stop_if_our_bug(error, f"training trial {trial_id}")
            if not is_storage_error(error):  # the trial itself is fine; it runs again on resume
                reason = f"{type(error).__name__}: {error}"
                self._failed(trial_id, architecture, reason, start, values)
            raise
        finally:
            self.observer.training_ended(trial_id)
        return self._completed(model, history, trial_id, architecture, start, values)

    def _train(self, hp, model, callbacks: list, trial_id, args, kwargs):
        if self.user_build is not None and self.user_build.fits_itself:
            history = self.user_build.hypermodel.fit(
                hp, model, *args, callbacks=callbacks, **kwargs
            )
            if not isinstance(history, keras.callbacks.History):
                raise SearchConfigError(
                    f"{self.user_build.name}.fit must return the History of model.fit, which "
                    f"the search scores. Received: {type(history).__name__}."
                )
            return history
        return fit_model(
            model,
            *args,
            callbacks=callbacks,
            on_progress=None if kwargs.get("verbose") else self.observer.progress,
            label=f"trial {trial_id}",
            shuffle=kwargs.pop("shuffle", None),
            **kwargs,
        )

    def _completed(self, model, history, trial_id, architecture: Architecture, start, values):
        logs = history.history
        losses = logs.get("loss", [])
        bad = next((epoch for epoch, value in enumerate(losses) if not math.isfinite(value)), None)
        if bad is not None:
            reason = f"the loss became NaN or infinite in epoch {bad + 1}"
            self._failed(trial_id, architecture, reason, start, values, epochs=len(losses))
            raise kt.errors.FailedTrialError(f"Trial {trial_id}: {reason}.")
        value = self.recipe.final_accuracy(logs[self.task.score])
        score = self.penalty.score_of(value, architecture, self.task.direction)
        measured = self.measure_latency(model) if self.measure_latency is not None else None
        self._record(
            TrialStatus.COMPLETED,
            trial_id,
            architecture,
            start,
            values,
            score=score,
            epochs=len(losses),
            measured_latency_us=measured,
            **scored_value(self.task, value),
        )
        # What the tuner records: every metric at the final epoch, the scoring metric and the
        # score as the recipe reads them; `macs` lets a served oracle check the report.
        final = {key: float(series[-1]) for key, series in logs.items() if series}
        return {**final, self.task.score: value, OBJECTIVE: score, **cost_logs(architecture)}

    def _reject(self, model, architecture: Architecture, callbacks, trial_id, start, values):
        """Reports an over-budget architecture at once, through the tuner's own callbacks."""
        logs = {OBJECTIVE: self._floor, **cost_logs(architecture)}
        report_without_training(model, callbacks, logs)
        reason = over_budget(architecture, self.max_macs, self.max_latency_us)
        self._record(TrialStatus.INFEASIBLE, trial_id, architecture, start, values, reason=reason)
        return logs

    def _failed(self, trial_id, architecture: Architecture, reason: str, start, values, epochs=0):
        self._record(
            TrialStatus.FAILED, trial_id, architecture, start, values, epochs=epochs, reason=reason
        )

    def _record(self, status, trial_id, architecture, start: float, values, **outcome) -> None:
        """Logs a finished trial (`values`: what `_recorded_values` keeps of its hp)."""
        # Keras Tuner's id of this process in a distributed search or a trainer process: a
        # report its oracle refuses is then told apart from another worker's (`rundir.run`).
        if os.environ.get("KERASTUNER_ORACLE_IP"):
            outcome["worker"] = os.environ.get("KERASTUNER_TUNER_ID")
        record = TrialRecord.of(
            trial_id, status, architecture, start, hyperparameters=values, **outcome
        )
        if self.trial_log is not None:
            self.trial_log.append(record)
        self.observer.trial_ended(record)


def _build_failure(error: Exception) -> str:
    return f"build failed: {type(error).__name__}: {error}"
