"""Exception types, one per family of failure.

Every message says what was wrong, where (file, line, layer or site name) and how to fix it.
The CLI turns any `BottleneckSearchError` into one line on stderr and its `exit_code`: 2 for bad
input, 1 for a search that stopped because its trials kept failing.
"""

from __future__ import annotations


class BottleneckSearchError(Exception):
    """Base class of every error bottleneck-search raises on purpose.

    Args:
        *args: the message (as for any exception).
        argument: the name of the argument whose value was refused, when one was; the CLI names
            the flag it came from (see `argument_validation`).
    """

    exit_code = 2

    def __init__(self, *args: object, argument: str | None = None):
        super().__init__(*args)
        self.argument = argument


class FlopCountError(BottleneckSearchError):
    """A model cannot be counted as given (no fixed shapes, not a graph model, bad arguments)."""


class UnsupportedLayerError(FlopCountError):
    """The FLOP counter met a layer (or operation) it has no counting function for."""


class ModelLoadError(BottleneckSearchError):
    """A model file or a `keras.applications` name could not be turned into a Keras model."""


class UnsafeModelError(ModelLoadError):
    """A model file holds Python code (a `Lambda` layer) that would run on loading; refused."""


class SearchSpaceError(BottleneckSearchError):
    """A search space, its YAML spec, or an architecture for it is invalid."""


class DatasetError(BottleneckSearchError):
    """A data set spec is unknown, unavailable, empty, or cannot be adapted to the space's input."""


class SearchConfigError(BottleneckSearchError):
    """A search job's arguments or run directory are invalid (checked before any training)."""


class ResultsError(BottleneckSearchError):
    """A run directory cannot be reported or exported (no finished trials, missing or corrupted files)."""


class SearchStoppedError(BottleneckSearchError):
    """A search stopped before its budget because trial after trial failed (the CLI exits with 1).

    The run directory keeps every finished trial; `--resume` continues once the cause is fixed.
    """

    exit_code = 1


class StorageError(BottleneckSearchError):
    """The run directory could not be written mid-search: a full disk, a read-only file system or
    missing permissions (the CLI exits with 1). Finished trials are kept for `--resume`."""

    exit_code = 1


class LatencyError(BottleneckSearchError):
    """A latency cannot be measured or predicted as asked (bad settings, a missing runtime, no
    latency table for a space)."""
