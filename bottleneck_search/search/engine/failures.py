"""What an exception raised in a trial means: a bug of this package, which stops the search at
once with its traceback, or the architecture's own failure (out of memory, a shape Keras refuses,
a user layer's error), which `BottleneckHyperModel` records as a failed trial and the search goes
on from."""

from __future__ import annotations

import os

import keras_tuner as kt

# Exceptions that mean a programming mistake when this package's own code raises them. A model's
# failures (out of memory, a shape Keras refuses, a user layer's own error) stay failed trials.
PROGRAMMING_ERRORS = (AttributeError, NameError, TypeError, KeyError, IndexError, AssertionError)
_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stop_if_our_bug(error: BaseException, doing: str) -> None:
    """Stops the search (`kt.errors.FatalError`, with the traceback) when `error` is a bug of
    this package: a programming error raised by its own code, which every later trial would
    hit too and which no failed-trial record should hide.
    """
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = frame.tb_frame.f_code.co_filename if frame is not None else ""
    if isinstance(error, PROGRAMMING_ERRORS) and where.startswith(_PACKAGE + os.sep):
        raise kt.errors.FatalError(
            f"bottleneck-search failed while {doing}, in its own code ({type(error).__name__}: "
            f"{error}, {os.path.relpath(where, os.path.dirname(_PACKAGE))}:{frame.tb_lineno}). "
            "This is a bug of bottleneck-search, not of the architecture; please report it with "
            "the traceback."
        ) from error
