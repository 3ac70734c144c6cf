"""The Keras callbacks a search adds to every trial's `model.fit`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras

from bottleneck_search.compat import is_hparams_callback
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.search.engine.objective import OBJECTIVE, CostPenalty
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.space.user_build import architecture_of_model
from bottleneck_search.training.inference import task_from_model
from bottleneck_search.training.task import Task


class CostMetrics(keras.callbacks.Callback):
    """Adds the penalised score (`val_score` unless `score_key` says otherwise), `macs`, `flops`
    and `params` to every epoch's logs, for any Keras model.

    Attached to your own model (no `architecture`), it counts the model with `count_flops` once,
    when training begins (exact, from shapes; a layer the counter cannot count stops training
    there with an error naming it), and reads the metric to penalise from the model's compiled
    loss and metrics (`task_from_model`: `val_accuracy` for a classifier compiled with
    `metrics=["accuracy"]`). A search passes the `architecture` it built instead, with its
    closed-form costs.

    Keras passes one `logs` dict to every callback in order, so callbacks after this one (Keras
    Tuner's reporting and checkpointing, History, TensorBoard) see the added metrics: a stock
    tuner with `objective=keras_tuner.Objective("val_score", "max")` optimises the penalised
    score, and `EvolutionOracle` ranks on `macs`.

    Args:
        architecture: the trained architecture, with its costs; None to count the model.
        penalty: a `CostPenalty` whose target is set (`CostPenalty("soft", target_macs=N)`,
            or `resolve(space)`); with no `architecture` its cost must be `"macs"`.
        task: the `Task` whose scoring metric (`task.score`, e.g. `val_accuracy`) is penalised,
            in its direction; None reads it from the model's compiled loss and metrics.
        score_key: the epoch-log key the score goes to.
        input_shape: the shape of one example to count a model whose input has free
            dimensions at (`count_flops`'s `input_shape`), e.g. `(224, 224, 3)`.

    Raises:
        SearchConfigError: (when made) a penalty without a target, or a latency cost with no
            architecture; (in training) epoch logs without the scoring metric.
        FlopCountError: (when training begins) a model the counter cannot count.

    Example:

    ```python
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    costs = CostMetrics(penalty=CostPenalty("soft", target_macs=2_000))
    history = model.fit(data.train, validation_data=data.val, epochs=1, verbose=0,
                        callbacks=[costs])
    print(history.history["macs"])   # -> [194480.0]  (30*30*8 * 3*3*3 + 8*10)
    ```
    """

    def __init__(
        self,
        architecture: Architecture | None = None,
        penalty: CostPenalty | None = None,
        task: Task | None = None,
        score_key: str = OBJECTIVE,
        input_shape: Sequence[int] | None = None,
    ):
        super().__init__()
        penalty = penalty or CostPenalty()
        if penalty.target is None:
            raise SearchConfigError(
                f"CostMetrics needs the penalty's target. Received: penalty={penalty}. Pass "
                "CostPenalty('soft', target_macs=N), with N the MACs at which the penalty is "
                "neutral (e.g. count_flops(model).macs of your design without reductions), or "
                "penalty.resolve(space) for a SearchSpace's architectures."
            )
        if architecture is None and penalty.cost != "macs":
            raise SearchConfigError(
                f"CostMetrics counts a model's MACs; cost='{penalty.cost}' needs the "
                "architecture of a space with a latency table (architecture=...). Use "
                "CostPenalty(cost='macs') for your own model."
            )
        self.architecture = architecture
        self.penalty = penalty
        self.task = task
        self.score_key = score_key
        self.input_shape = input_shape
        # What the model being trained costs, and its task (read anew for each model fitted).
        self._counted, self._task = architecture, task

    def on_train_begin(self, logs=None):
        if self.architecture is None:
            self._counted = architecture_of_model(self.model, input_shape=self.input_shape)
        if self.task is None:
            self._task = task_from_model(self.model, input_range="unit")  # the range is unused

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        score = self._task.score
        if score not in logs:
            raise SearchConfigError(
                f"The epoch logs have no '{score}', the metric that scores a trial (found: "
                f"{', '.join(sorted(logs))}). Pass validation data (validation_data=...), and a "
                "Task whose metrics log it or whose score names one they do."
            )
        logs[self.score_key] = self.penalty.score_of(
            float(logs[score]), self._counted, self._task.direction
        )
        logs.update(cost_logs(self._counted))


def cost_logs(architecture) -> dict[str, float]:
    """An architecture's costs as metrics: `macs`, `flops`, `params`, and `latency_us` when
    its space has a latency table."""
    logs = {
        "macs": float(architecture.macs),
        "flops": float(architecture.flops),
        "params": float(architecture.params),
    }
    if architecture.latency_us is not None:
        logs["latency_us"] = float(architecture.latency_us)
    return logs


class StopWhenRequested(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt` at the next batch once `stop_requested()` is true.

    A deferred Ctrl-C lands here, in the middle of training, rather than while Keras Tuner is
    writing its state files.

    Args:
        stop_requested: polled after every training batch.

    Example:

    ```python
    stop = threading.Event()
    callback = StopWhenRequested(stop.is_set)   # stop.set() from a signal handler
    ```
    """

    def __init__(self, stop_requested: Callable[[], bool]):
        super().__init__()
        self.stop_requested = stop_requested

    def on_train_batch_end(self, batch, logs=None):
        if self.stop_requested():
            raise KeyboardInterrupt


def with_cost_hparams(callbacks: list, hparams: dict, architecture: Architecture, trial_id) -> list:
    """Replaces the TensorBoard hparams callback Keras Tuner pairs with each `TensorBoard` callback
    by one whose hparams also hold the architecture's MACs, FLOPs and parameters.

    Args:
        callbacks: the callbacks a tuner passes to `HyperModel.fit`.
        hparams: the trial's hyperparameter values (`hp.values`).
        architecture: the trial's architecture, with its costs.
        trial_id: the trial's id (TensorBoard's run name).

    Returns:
        The callbacks, unchanged when there is no `TensorBoard` among them.
    """
    boards = [c for c in callbacks if isinstance(c, keras.callbacks.TensorBoard)]
    if not boards:
        return callbacks
    from tensorboard.plugins.hparams import api as hparams_api

    shown = {
        name: value
        for name, value in hparams.items()
        if isinstance(value, bool | int | float | str) and not name.startswith("tuner/")
    }
    shown.update(macs=architecture.macs, flops=architecture.flops, params=architecture.params)
    kept = [c for c in callbacks if not is_hparams_callback(c)]
    for board in boards:
        kept.append(
            hparams_api.KerasCallback(
                writer=str(board.log_dir), hparams=shown, trial_id=str(trial_id or "")
            )
        )
    return kept
