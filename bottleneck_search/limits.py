"""Bounds on what a user's file may ask for, in one place.

A typo such as `filters: 1000000000` or a 10^12-wide reduction would otherwise allocate absurd
tensors; a spec or architecture file of many megabytes is not one. Every check that enforces a
bound reads it from here, so the number and its message are the same everywhere.
"""

from __future__ import annotations

from bottleneck_search.argument_validation import check_count
from bottleneck_search.errors import BottleneckSearchError, SearchConfigError

# Channels of a conv, units of a dense layer, width of a reduction (in YAML and architecture JSON).
MAX_CHANNELS = 16384
# Height or width of an image in a YAML backbone's `input_shape`.
MAX_SPATIAL = 4096
# Units of the softmax head (`classes`).
MAX_CLASSES = 100_000
# Kernel size, strides and pool size of a YAML block.
MAX_KERNEL = 15
MAX_STRIDES = 16
MAX_POOL = 64
# `defaults.round_to` of a YAML backbone.
MAX_ROUND_TO = 1024
# A YAML backbone or an architecture JSON file: a few kilobytes in practice.
MAX_FILE_BYTES = 1_000_000
# How a latency is measured: images per call, threads of the runtime, timed calls.
MAX_LATENCY_BATCH = 65536
MAX_LATENCY_THREADS = 1024
MAX_LATENCY_REPEATS = 100_000


def file_too_large(kind: str, path: str) -> str:
    """The message for a `kind` file (e.g. "Search space file") over `MAX_FILE_BYTES`."""
    return (
        f"{kind} '{path}' is over {MAX_FILE_BYTES:,} bytes; such a file is a few kilobytes. "
        "Check the path."
    )


def check_latency_settings(
    batch_size: object,
    threads: object = None,
    repeats: object = 1,
    *,
    names: tuple[str, str, str] = ("batch_size", "threads", "repeats"),
    error: type[BottleneckSearchError] = SearchConfigError,
) -> None:
    """The one check of how a latency is measured: a batch size, a thread count (None: the
    runtime's own) and a repeat count, for the measurement itself and for a search's or compress
    run's settings before any training. `names` are the arguments' names as the caller spells
    them (`latency_batch_size` in a `SearchConfig`).

    Raises:
        error: a value out of its range, named.
    """
    batch_name, threads_name, repeats_name = names
    check_count(batch_name, batch_size, most=MAX_LATENCY_BATCH, error=error)
    check_count(repeats_name, repeats, most=MAX_LATENCY_REPEATS, error=error)
    if threads is not None:
        check_count(
            threads_name,
            threads,
            most=MAX_LATENCY_THREADS,
            hint="Leave it unset for the runtime's default.",
            error=error,
        )
