"""`CompressConfig`: the arguments of `bottleneck-search compress`, checked before any work."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from bottleneck_search.argument_validation import check_count, check_number
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.parts import DataSource, LatencySettings, TaskOverrides
from bottleneck_search.parts.base import check_parts, flat_arguments, parts_from_arguments
from bottleneck_search.rundir.files import default_run_dir

# Reduction widths offered at every site, as fractions of its input channels: finer than a
# search's default, since a compression budget is met by trimming many sites a little.
COMPRESS_WIDTHS = (0.25, 0.375, 0.5, 0.625, 0.75)
# Adam's peak learning rate for fine-tuning: a quarter of a from-scratch trial's, since the
# network starts close to a trained one. A judgement, not a measurement: bench/compress.py uses it
# as it is and compared no other rate.
FINETUNE_LEARNING_RATE = 5e-4


# The flat arguments (the CLI's flags, `config.json`'s `arguments`) that a part holds:
# flat name -> (part, argument); the rest are the config's own fields.
FLAT = {
    **{name: ("data", name) for name in ("dataset", "train_size", "batch_size")},
    **{name: ("data", name) for name in ("data_dir", "download")},
    **{name: ("task", name) for name in ("loss", "metric", "input_range")},
    "latency_batch_size": ("latency", "batch_size"),
    "latency_runtime": ("latency", "runtime"),
    "latency_threads": ("latency", "threads"),
}
PARTS = {"data": DataSource, "task": TaskOverrides, "latency": LatencySettings}


@dataclasses.dataclass(frozen=True)
class CompressConfig:
    """What to compress, to which budget, and how; the data, task and latency settings are the
    same parts a search has (`bottleneck_search.parts`). Checked when made.

    Args:
        model: the trained `.keras` model (loaded in safe mode), or from Python the
            `keras.Model` itself (saved into the run directory as `original.keras`).
        data: its data (`DataSource`, or any data set spec: a name, `(x, y)` arrays, an
            unbatched `tf.data.Dataset`); validation and test splits score the model before and
            after.
        task: overrides of the task read from the model (`TaskOverrides`).
        latency: how the latency table measures, for a latency budget (`LatencySettings`).
        max_macs: the budget, MACs per image; or
        macs_ratio: the budget as a fraction of the model's MACs: `MACs / macs_ratio` (> 1); or
        max_latency: the budget as predicted latency, milliseconds per call (the model's latency
            table, `bottleneck_search.latency`: measured on this machine once, cached); or
        latency_ratio: the budget as the model's measured latency over `latency_ratio` (> 1).
        finetune_epochs: epochs each candidate is fine-tuned (0: the warm start as it is).
        candidates: how many candidates are fine-tuned; the best by validation accuracy wins.
        widths: reduction widths offered (fractions of a site's input channels, or counts).
        learning_rate: fine-tuning's peak learning rate (warm-up, cosine decay).
        seed: seeds sampling, fine-tuning and the data split.
        run_dir: the output directory; `runs/compress-<model>-<time>` by default.

    Raises:
        SearchConfigError: not exactly one budget, or an argument out of range.

    Example:

    ```python
    config = CompressConfig(model=model_path, macs_ratio=2.0, finetune_epochs=1)
    ```
    """

    model: Any
    data: DataSource = DataSource()
    task: TaskOverrides = TaskOverrides()
    latency: LatencySettings = LatencySettings()
    max_macs: int | None = None
    macs_ratio: float | None = None
    max_latency: float | None = None
    latency_ratio: float | None = None
    finetune_epochs: int = 1
    candidates: int = 2
    widths: tuple = COMPRESS_WIDTHS
    learning_rate: float = FINETUNE_LEARNING_RATE
    seed: int = 0
    run_dir: str | None = None

    def __post_init__(self):
        if not isinstance(self.data, DataSource):
            object.__setattr__(self, "data", DataSource(self.data))
        check_parts(self, PARTS)
        budgets = ("max_macs", "macs_ratio", "max_latency", "latency_ratio")
        given = [name for name in budgets if getattr(self, name) is not None]
        if len(given) != 1:
            received = ", ".join(f"{name}={getattr(self, name)!r}" for name in given) or "none"
            raise SearchConfigError(
                "compress needs exactly one budget: max_macs (MACs per image), macs_ratio (that "
                "many times fewer MACs than the model), max_latency (predicted milliseconds per "
                f"call) or latency_ratio (that many times faster, predicted). Received: {received}.",
                argument=given[1] if len(given) > 1 else "max_macs",
            )
        if self.max_macs is not None:
            check_count("max_macs", self.max_macs)
        if self.macs_ratio is not None:
            check_number("macs_ratio", self.macs_ratio, above=1, hint="2 halves the MACs.")
        if self.max_latency is not None:
            check_number("max_latency", self.max_latency, unit="milliseconds")
        if self.latency_ratio is not None:
            check_number("latency_ratio", self.latency_ratio, above=1, hint="2 halves the latency.")
        check_count(
            "finetune_epochs", self.finetune_epochs, least=0, hint="0 keeps the warm start."
        )
        check_count("candidates", self.candidates)
        check_number("learning_rate", self.learning_rate)

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> CompressConfig:
        """A config from flat arguments (the CLI's flags by their Python names, `config.json`'s
        `arguments`); unknown keys are ignored.

        Raises:
            SearchConfigError: as the parts and the config do; the error names the flat argument.
        """
        fields = {field.name for field in dataclasses.fields(cls)} - set(PARTS)
        own = {key: value for key, value in arguments.items() if key in fields}
        return cls(**parts_from_arguments(arguments, FLAT, PARTS), **own)

    def arguments(self) -> dict[str, Any]:
        """The flat arguments of this config, as `config.json` records them."""
        own = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in PARTS
        }
        return {**own, **flat_arguments(self, FLAT)}

    @classmethod
    def default_arguments(cls) -> dict[str, Any]:
        """The flat arguments' defaults (the CLI's), `model` and the budgets aside."""
        own = {
            field.name: field.default
            for field in dataclasses.fields(cls)
            if field.name not in PARTS and field.default is not dataclasses.MISSING
        }
        parts = {key: getattr(PARTS[part](), name) for key, (part, name) in FLAT.items()}
        return {**own, **parts}

    @property
    def latency_budgeted(self) -> bool:
        """Whether the budget is a latency (`max_latency` or `latency_ratio`)."""
        return self.max_latency is not None or self.latency_ratio is not None

    def budget(self, model_cost: float) -> float:
        """The budget for a model of cost `model_cost`: MACs per image, or with a latency
        budget the predicted microseconds per call."""
        if self.max_macs is not None:
            return self.max_macs
        if self.macs_ratio is not None:
            return math.floor(model_cost / self.macs_ratio)
        if self.max_latency is not None:
            return self.max_latency * 1000
        return model_cost / self.latency_ratio

    def with_default_run_dir(self) -> CompressConfig:
        """This config with `run_dir` set: as given, or `runs/compress-<model>-<time>`."""
        if self.run_dir:
            return self
        stem = (
            Path(self.model).stem if isinstance(self.model, str | os.PathLike) else self.model.name
        )
        return dataclasses.replace(self, run_dir=default_run_dir(f"compress-{stem}"))
