"""The Keras callbacks a search adds to every trial's `model.fit`."""

from __future__ import annotations

from collections.abc import Callable

import keras

from bottleneck_search.compat import is_hparams_callback
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.search.engine.objective import OBJECTIVE, CostPenalty
from bottleneck_search.space.architecture import Architecture
from bottleneck_search.training.task import Task


class CostMetrics(keras.callbacks.Callback):
    """Adds the penalised score (`val_score` unless `score_key` says otherwise), `macs`, `flops`
    and `params` to every epoch's logs.

    Keras passes one `logs` dict to every callback in order, so callbacks after this one (Keras
    Tuner's reporting and checkpointing, History, TensorBoard) see the added metrics.

    Args:
        architecture: the trained architecture, with its costs.
        penalty: a resolved `CostPenalty` (its `target_macs` set).
        task: the `Task` whose scoring metric (`task.score`, e.g. `val_accuracy`) is penalised,
            in its direction.
        score_key: the epoch-log key the score goes to.

    Example:

    ```python
    arch = space.no_bottleneck()
    model = space.build(arch)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    penalty = CostPenalty("soft").resolve(space)
    history = model.fit(data.train, validation_data=data.val, epochs=1, verbose=0,
                        callbacks=[CostMetrics(arch, penalty, Task())])
    print(history.history["val_score"], history.history["macs"])
    ```
    """

    def __init__(
        self,
        architecture: Architecture,
        penalty: CostPenalty,
        task: Task,
        score_key: str = OBJECTIVE,
    ):
        super().__init__()
        self.architecture = architecture
        self.penalty = penalty
        self.task = task
        self.score_key = score_key

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        score = self.task.score
        if score not in logs:
            raise SearchConfigError(
                f"The epoch logs have no '{score}', the metric that scores a trial (found: "
                f"{', '.join(sorted(logs))}). Pass validation data (validation_data=...), and a "
                "Task whose metrics log it or whose score names one they do."
            )
        logs[self.score_key] = self.penalty.score_of(
            float(logs[score]), self.architecture, self.task.direction
        )
        logs.update(cost_logs(self.architecture))


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
