"""Exception types, one per family of failure.

Every message says what was wrong, where (file, line, layer or site name) and how to fix it.
The CLI turns any `BottleneckSearchError` into one line on stderr and exit code 2.
"""

from __future__ import annotations


class BottleneckSearchError(Exception):
    """Base class of every error bottleneck-search raises on purpose."""


class FlopCountError(BottleneckSearchError):
    """A model cannot be counted as given (no fixed shapes, not a graph model, bad arguments)."""


class UnsupportedLayerError(FlopCountError):
    """The FLOP counter met a layer (or operation) it has no counting function for."""


class ModelLoadError(BottleneckSearchError):
    """A model file or a `keras.applications` name could not be turned into a Keras model."""


class SearchSpaceError(BottleneckSearchError):
    """A search space, its YAML spec, or an architecture for it is invalid."""


class DatasetError(BottleneckSearchError):
    """A data set spec is unknown, unavailable, empty, or cannot be adapted to the space's input."""


class SearchConfigError(BottleneckSearchError):
    """A search job's arguments or run directory are invalid (checked before any training)."""


class ResultsError(BottleneckSearchError):
    """A run directory cannot be reported or exported (no finished trials, missing or corrupted files)."""
