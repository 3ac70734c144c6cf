"""Bounds on what a user's file may ask for, in one place.

A typo such as `filters: 1000000000` or a 10^12-wide reduction would otherwise allocate absurd
tensors; a spec or architecture file of many megabytes is not one. Every check that enforces a
bound reads it from here, so the number and its message are the same everywhere; `is_count` is
the one test of "an integer of at least N" that every argument check uses.
"""

from __future__ import annotations

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


def latency_settings_problem(
    batch_size: object, threads: object = None, repeats: object = 1
) -> str | None:
    """What is wrong with how a latency would be measured, or None: the one check of a batch
    size, a thread count (None: the runtime's own) and a repeat count, for the measurement
    itself and for a search's or compress run's settings before any training."""
    for name, value, high in (
        ("batch size", batch_size, MAX_LATENCY_BATCH),
        ("repeats", repeats, MAX_LATENCY_REPEATS),
    ):
        if not is_count(value) or value > high:
            return f"{name} must be an integer from 1 to {high}. Received: {value!r}."
    if threads is not None and (not is_count(threads) or threads > MAX_LATENCY_THREADS):
        return (
            f"threads must be an integer from 1 to {MAX_LATENCY_THREADS}, or unset for the "
            f"runtime's default. Received: {threads!r}."
        )
    return None


def is_count(value: object, least: int = 1) -> bool:
    """Whether `value` is an integer of at least `least` (`True` and `False` are not counts)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least
