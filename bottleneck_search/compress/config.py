"""`CompressConfig`: the arguments of `bottleneck-search compress`, checked before any work."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

from bottleneck_search.argument_validation import check_count, check_flag, check_number
from bottleneck_search.errors import SearchConfigError
from bottleneck_search.limits import check_latency_settings

# Reduction widths offered at every site, as fractions of its input channels: finer than a
# search's default, since a compression budget is met by trimming many sites a little.
COMPRESS_WIDTHS = (0.25, 0.375, 0.5, 0.625, 0.75)
# Adam's peak learning rate for fine-tuning: a quarter of a from-scratch trial's, since the
# network starts close to a trained one. A judgement, not a measurement: bench/compress.py uses it
# as it is and compared no other rate.
FINETUNE_LEARNING_RATE = 5e-4


@dataclasses.dataclass(frozen=True)
class CompressConfig:
    """What to compress, to which budget, and how.

    Attributes:
        model: the trained `.keras` model (loaded in safe mode), or from Python the
            `keras.Model` itself (saved into the run directory as `original.keras`).
        dataset, train_size, data_dir, download, batch_size: its data (see `load_dataset`: a
            name, or from Python `(x, y)` arrays or an unbatched `tf.data.Dataset`); validation
            and test splits score the model before and after.
        loss, metric, input_range: override the task read from the model (see `Task`,
            `training.inputs`; `--loss`, `--metric`, `--input-range`).
        max_macs: the budget, MACs per image; or
        macs_ratio: the budget as a fraction of the model's MACs: `MACs / macs_ratio` (> 1); or
        max_latency: the budget as predicted latency, milliseconds per call (the model's latency
            table, `bottleneck_search.latency`: measured on this machine once, cached); or
        latency_ratio: the budget as the model's measured latency over `latency_ratio` (> 1).
        latency_batch_size, latency_threads: how the latency table measures (batch size per
            call; threads, None: the runtime's default).
        finetune_epochs: epochs each candidate is fine-tuned (0: the warm start as it is).
        candidates: how many candidates are fine-tuned; the best by validation accuracy wins.
        widths: reduction widths offered (fractions of a site's input channels, or counts).
        learning_rate: fine-tuning's peak learning rate (warm-up, cosine decay).
        seed: seeds sampling, fine-tuning and the data split.
        run_dir: the output directory; `runs/compress-<model>-<time>` by default.

    Example:

    ```python
    config = CompressConfig(model=model_path, macs_ratio=2.0, finetune_epochs=1)
    config.check()
    ```
    """

    model: Any
    dataset: Any = "digits"
    max_macs: int | None = None
    macs_ratio: float | None = None
    max_latency: float | None = None
    latency_ratio: float | None = None
    latency_batch_size: int = 1
    latency_threads: int | None = None
    finetune_epochs: int = 1
    candidates: int = 2
    widths: tuple = COMPRESS_WIDTHS
    learning_rate: float = FINETUNE_LEARNING_RATE
    seed: int = 0
    batch_size: int = 32
    train_size: int | None = None
    data_dir: str | None = None
    download: bool = False
    run_dir: str | None = None
    loss: str | None = None
    metric: str | None = None
    input_range: str = "auto"

    def check(self) -> None:
        """Checks the arguments that need no file or data.

        Raises:
            SearchConfigError: naming the argument, what it was and what is expected.
        """
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
        check_latency_settings(
            self.latency_batch_size,
            self.latency_threads,
            names=("latency_batch_size", "latency_threads", "repeats"),
        )
        check_count(
            "finetune_epochs", self.finetune_epochs, least=0, hint="0 keeps the warm start."
        )
        check_count("candidates", self.candidates)
        check_count("batch_size", self.batch_size)
        check_number("learning_rate", self.learning_rate)
        check_flag("download", self.download)

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
        """This config with `run_dir` set: as given, or `runs/compress-<model>-<YYYYmmdd-HHMMSS>`."""
        if self.run_dir:
            return self
        stem = (
            Path(self.model).stem if isinstance(self.model, str | os.PathLike) else self.model.name
        )
        name = f"compress-{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        return dataclasses.replace(self, run_dir=os.path.join("runs", name))
