"""`Task`: what a model learns and how it is scored, read from the user's model.

Every training path (trials, confirmation, export's retraining, compress' fine-tuning, the
supernet) compiles through one `Task` (`training.fit`), so the loss, the metrics, the label form
and the metric that scores an architecture are decided once. A task comes from:

1. the model's own compile settings (a compiled model in memory, or the `compile_config` a
   compiled `.keras` file keeps): its loss (with `from_logits`), its metrics, its label form
   (categorical losses take one-hot labels);
2. else the model's output: a softmax or sigmoid head is trained on probabilities, a linear head
   with as many units as there are classes on logits (`from_logits=True`);
3. overridden by the user: `--loss` / `--metric` (any Keras loss or metric name), or a `Task` of
   one's own from Python.

The scoring metric is the first accuracy among the metrics (else the first metric, else the
validation loss); its direction is Keras Tuner's (`infer_metric_direction`: accuracy up, loss or MAE down).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from bottleneck_search.argument_validation import check_choice
from bottleneck_search.errors import SearchConfigError

# Metric names Keras logs for accuracies (the string "accuracy" logs as "accuracy").
ACCURACIES = (
    "accuracy",
    "acc",
    "sparse_categorical_accuracy",
    "categorical_accuracy",
    "binary_accuracy",
)
# Losses that take one-hot (or multi-hot) labels rather than class indices.
_ONE_HOT_LOSSES = ("categorical_crossentropy", "categorical_focal_crossentropy", "kl_divergence")
_CLASSIFICATION_LOSSES = (
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
)
LABEL_FORMS = ("sparse", "one_hot", "binary", "given")


@dataclasses.dataclass(frozen=True)
class Task:
    """The loss, metrics and labels a model trains with, and the metric that scores it.

    Losses and metrics are kept serialised (names or Keras configs), so a task is plain JSON in
    `config.json`, travels to trainer processes, and every `compile` gets fresh metric objects.

    Attributes:
        loss: a Keras loss: a name, a `keras.losses.Loss`, or its serialised config (a dict or
            list of them for multi-output models).
        metrics: Keras metrics (names, objects or configs); for a multi-output model also per
            output, as `model.compile` takes them: a list of lists in output order, or a dict
            by output name.
        score: the epoch-log key of the metric that scores an architecture, e.g. `val_accuracy`
            or `val_mae` (Keras prefixes a multi-output model's with the output's name:
            `val_<output>_accuracy`); None: the first accuracy among flat `metrics`, else the
            first metric, else `val_loss` (per-output metrics need it named).
        direction: `"max"` or `"min"`; None: Keras Tuner's inference from `score`.
        labels: the labels the loss takes: `sparse` (class indices), `one_hot`, `binary`, or
            `given` (the user's data as it is; never converted).
        classes: the number of classes of a classification head, else None.
        source: where the task came from, for the progress header and the report.
        input_range: the pixel range the model is fed, `(0, 1)` or `(0, 255)` (see
            `training.inputs`); the data sets of a run are scaled to it.
        input_reason: why that range was chosen.

    Example:

    ```python
    task = Task(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert task.score == "val_accuracy" and task.direction == "max" and task.from_logits
    regression = Task(loss="mae", metrics=["mae"], labels="given")
    assert (regression.score, regression.direction) == ("val_mae", "min")
    ```
    """

    loss: Any = "sparse_categorical_crossentropy"
    metrics: Sequence = ("accuracy",)
    score: str | None = None
    direction: str | None = None
    labels: str = "sparse"
    classes: int | None = None
    source: str = "default"
    input_range: tuple[float, float] = (0.0, 1.0)
    input_reason: str = "the default"

    def __post_init__(self):
        set_field = object.__setattr__
        set_field(self, "loss", _serialised(self.loss, "loss"))
        set_field(self, "metrics", _serialised_metrics(self.metrics))
        set_field(self, "input_range", tuple(float(v) for v in self.input_range))
        check_choice("labels", self.labels, LABEL_FORMS)
        if self.score is None:
            if not isinstance(self.metrics, tuple) or any(
                isinstance(m, tuple) for m in self.metrics
            ):
                raise SearchConfigError(
                    "A task with metrics per output must name the one that scores, as Keras logs "
                    "it: Task(..., score='val_<output>_<metric>')."
                )
            names = [metric_name(m) for m in self.metrics]
            accuracy = next((name for name in names if name in ACCURACIES), None)
            chosen = accuracy or (names[0] if names else "loss")
            set_field(self, "score", f"val_{chosen}")
        if self.direction is None:
            set_field(self, "direction", _direction(self.score))
        check_choice("direction", self.direction, ("max", "min"))

    # -- what the rest of the package asks -------------------------------------------------
    @property
    def scores_accuracy(self) -> bool:
        """Whether the scoring metric is an accuracy (a value in [0, 1], higher better)."""
        name = self.score.removeprefix("val_")
        return any(name == known or name.endswith(f"_{known}") for known in ACCURACIES)

    @property
    def from_logits(self) -> bool:
        """Whether the loss reads logits (a head without softmax or sigmoid)."""
        losses = self.loss if isinstance(self.loss, list) else [self.loss]
        return any(
            isinstance(loss, dict) and loss.get("config", {}).get("from_logits") for loss in losses
        )

    def new_loss(self):
        """A fresh Keras loss for `compile`."""
        import keras

        return keras.saving.deserialize_keras_object(self.loss)

    def new_metrics(self) -> list | dict:
        """Fresh Keras metrics for `compile` (metric objects hold state; no two models share
        one), in the task's structure (flat, per output in order, or by output name)."""
        import keras

        def fresh(metrics):
            return [keras.saving.deserialize_keras_object(metric) for metric in metrics]

        if isinstance(self.metrics, dict):
            return {name: fresh(metrics) for name, metrics in self.metrics.items()}
        if any(isinstance(m, tuple) for m in self.metrics):
            return [fresh(metrics) for metrics in self.metrics]
        return fresh(self.metrics)

    @property
    def sign(self) -> int:
        """+1 when higher scores are better, -1 when lower are (see `direction_sign`)."""
        return direction_sign(self.direction)

    def better(self, a: float, b: float) -> bool:
        """Whether score value `a` is strictly better than `b` in this task's direction."""
        return a > b if self.direction == "max" else a < b

    def describe(self) -> str:
        """One line: the loss, the label form and the scoring metric, and where they came from."""
        loss = self.loss if isinstance(self.loss, str) else _loss_label(self.loss)
        head = f"{self.classes}-class, " if self.classes else ""
        logits = " on logits" if self.from_logits else ""
        low, high = self.input_range
        return (
            f"task ({self.source}): {head}{loss}{logits}, {self.labels} labels; scored on "
            f"{self.score} ({self.direction}); inputs in [{low:g}, {high:g}] ({self.input_reason})"
        )

    def get_config(self) -> dict:
        metrics = self.metrics
        if not isinstance(metrics, dict):
            metrics = [list(m) if isinstance(m, tuple) else m for m in metrics]
        return dataclasses.asdict(self) | {
            "metrics": metrics,
            "input_range": list(self.input_range),
        }

    @classmethod
    def from_config(cls, data: dict) -> Task:
        fields = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in fields})


def direction_sign(direction: str) -> int:
    """+1 for `"max"` (higher is better), -1 for `"min"`: multiplying a score by it makes higher
    better either way."""
    return 1 if direction == "max" else -1


def metric_name(metric) -> str:
    """The epoch-log key (without `val_`) a serialised or live Keras metric logs under."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, dict):
        return metric.get("config", {}).get("name") or metric.get("class_name", "metric")
    return getattr(metric, "name", type(metric).__name__)


def _serialised_metrics(metrics) -> tuple | dict:
    """Metrics as JSON-able values: a flat tuple, a tuple of tuples (per output, in order), or a
    dict of tuples (by output name)."""
    if isinstance(metrics, dict) and "class_name" not in metrics:
        return {
            name: _serialised_metrics(value if isinstance(value, list | tuple) else [value])
            for name, value in metrics.items()
        }
    if isinstance(metrics, str | dict):
        metrics = [metrics]
    if any(isinstance(m, list | tuple) or m is None for m in metrics):
        return tuple(_serialised_metrics(list(m or ())) for m in metrics)
    return tuple(_serialised(m, "metric") for m in metrics)


def _serialised(value, kind: str):
    """A loss or metric as JSON: names stay names, objects become Keras configs."""
    if value is None and kind == "loss":
        raise SearchConfigError("A task needs a loss. Received: loss=None.")
    if isinstance(value, dict) and "class_name" not in value:  # one per output, by name
        return {name: _serialised(item, kind) for name, item in value.items()}
    if isinstance(value, str | dict) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_serialised(item, kind) for item in value]
    import keras

    try:
        return keras.saving.serialize_keras_object(value)
    except Exception as error:  # Keras raises several kinds for an object it cannot serialise
        raise SearchConfigError(
            f"The {kind} {value!r} cannot be serialised by Keras ({error}); pass a Keras {kind} "
            "name, a keras.losses/keras.metrics object, or a registered class "
            "(keras.saving.register_keras_serializable)."
        ) from error


def _direction(score: str) -> str:
    """Keras Tuner's direction for `score`, read past an output's name prefix
    (`val_<output>_mae` as `val_mae`)."""
    from keras_tuner.engine.metrics_tracking import infer_metric_direction

    words = score.removeprefix("val_").split("_")
    direction = None
    for start in range(len(words)):
        direction = infer_metric_direction("_".join(words[start:]))
        if direction is not None:
            break
    if direction is None:
        raise SearchConfigError(
            f"Cannot tell whether a higher or a lower '{score}' is better. Pass "
            f"Task(score='{score}', direction='max' or 'min')."
        )
    return direction


def _loss_label(loss) -> str:
    if isinstance(loss, list):
        return "[" + ", ".join(_loss_label(item) for item in loss) + "]"
    if isinstance(loss, dict) and "config" not in loss:  # a loss per output name
        return "{" + ", ".join(f"{k}: {_loss_label(v)}" for k, v in loss.items()) + "}"
    if isinstance(loss, dict):
        return loss["config"].get("name") or loss.get("class_name", "loss")
    return str(loss)


def loss_name(loss) -> str:
    """The Keras name of a serialised single loss (`sparse_categorical_crossentropy`), or ''."""
    if isinstance(loss, str):
        return _ALIASES.get(loss, loss)
    if isinstance(loss, dict) and "config" in loss:
        return loss["config"].get("name") or ""
    return ""


_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "bce": "binary_crossentropy"}


def is_classification_loss(loss) -> bool:
    return loss_name(loss) in _CLASSIFICATION_LOSSES


def labels_for(loss) -> str:
    """The label form a single loss takes."""
    name = loss_name(loss)
    if name in _ONE_HOT_LOSSES:
        return "one_hot"
    if name.startswith("binary"):
        return "binary"
    if name == "sparse_categorical_crossentropy":
        return "sparse"
    return "given"


def at_chance(accuracy: float, classes: int, examples: int, task: Task) -> str | None:
    """None when `accuracy` (on `examples` validation images) is above what guessing among
    `classes` reaches by luck (`stats.chance_ceiling`); else the clause saying so and what to
    check: the input range, the loss and the learning rate.

    Example:

    ```python
    assert at_chance(0.5, 10, 305, Task()) is None
    assert "within chance for 10 classes" in at_chance(0.11, 10, 305, Task())
    ```
    """
    from bottleneck_search.stats import chance_ceiling

    ceiling = chance_ceiling(classes, examples)
    if accuracy > ceiling:
        return None
    low, high = task.input_range
    expected = "logits" if task.from_logits else "probabilities"
    return (
        f"within chance for {classes} classes (at most {ceiling:.3f} on {examples} images). "
        f"Check: the input range (fed [{low:g}, {high:g}]: {task.input_reason}; input_range=, --input-range), "
        f"the loss ({expected} expected: {task.source}; loss=, --loss), and the learning rate "
        "(learning_rate=, --learning-rate)."
    )
