"""`DataSource`: where a job's images come from and how they are batched."""

from __future__ import annotations

import dataclasses
from typing import Any

from bottleneck_search.argument_validation import check_count, check_flag
from bottleneck_search.errors import DatasetError
from bottleneck_search.parts.base import Part


@dataclasses.dataclass(frozen=True)
class DataSource(Part):
    """The data a job trains and scores on.

    Args:
        dataset: a data set spec (`digits`, `fashion_mnist`, `tfds:NAME`, `folder:PATH`, `npz:PATH`;
            see `load_dataset`), or data in memory: `(x, y)` arrays, an unbatched
            `tf.data.Dataset` or a `keras.utils.PyDataset` (a job writes it into its run
            directory as `data.npz`, so that every later step reads it). Labels may be classes
            or targets of any task.
        train_size: train and validate on a stratified subsample of this many training images.
        batch_size: the training batch size.
        data_dir: where to look first for the data sets with Keras names; TFDS' data directory.
        download: let `keras.datasets` or TFDS download a data set that is not on disk.

    Raises:
        DatasetError: `train_size` below 2.
        SearchConfigError: `batch_size` not a positive integer, `download` not a boolean.

    Example:

    ```python
    DataSource("fashion_mnist", train_size=2000, batch_size=64)
    ```
    """

    dataset: Any = "digits"
    train_size: int | None = None
    batch_size: int = 32
    data_dir: str | None = None
    download: bool = False

    def __post_init__(self):
        check_train_size(self.train_size)
        check_count("batch_size", self.batch_size)
        check_flag("download", self.download)

    @property
    def is_demo(self) -> bool:
        """Whether this is the offline demo data (`digits`), on which a job keeps its defaults
        light."""
        return isinstance(self.dataset, str) and self.dataset == "digits"


def check_train_size(train_size: object) -> None:
    """The one check of a training subsample's size (None: the whole split), for a
    `DataSource` and for `load_dataset` given one directly.

    Raises:
        DatasetError: not an integer of at least 2.
    """
    if train_size is not None:
        unit = "images to draw from the training split"
        check_count("train_size", train_size, least=2, unit=unit, error=DatasetError)
