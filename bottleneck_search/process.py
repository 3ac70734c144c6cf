"""Process-wide set-up of the `bottleneck-search` command and of a search's trainer processes
(never of the library imported by a user): TensorFlow imported quietly, Ctrl-C deferred to a
point where Keras Tuner's state is consistent, start-up objects kept out of the garbage
collector's passes."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its start-up chatter silenced. The command and its trainer processes only; the library never does this.

    TensorFlow's native code writes oneDNN/CUDA notices straight to file descriptor 2 before its
    log level applies, so stderr is pointed at /dev/null for the duration of the import.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # gRPC's native log lines (a TLS key it cannot load, a chief gone) repeat our one-line errors.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    tensorflow.get_logger().addFilter(_drop_retracing_warnings)


def _drop_retracing_warnings(record: logging.LogRecord) -> bool:
    """False for TensorFlow's "N out of the last M calls ... triggered tf.function retracing"
    warning. Keras traces one predict function per model, and a latency table or a search builds
    many models on purpose; the warning's advice does not apply and it buries our progress."""
    return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def frozen_garbage():
    """Moves the objects alive after start-up (TensorFlow's, Keras') out of the garbage
    collector's view for the block, which makes the two full `gc.collect()` passes Keras Tuner
    runs before every trial cheap; they are handed back afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def deferred_interrupt(enabled: bool = True):
    """Turns the first Ctrl-C into a request the search honours at its next batch or trial.

    Keras Tuner writes its state files in place; an interrupt while it writes them would leave a
    run that cannot be resumed. A second Ctrl-C interrupts at once. A chief trains nothing, so
    there (`enabled=False`) Ctrl-C interrupts at once.
    """
    requested = threading.Event()
    if not enabled:
        yield requested
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print(
            "bottleneck-search search: stopping at the next batch (Ctrl-C again to stop now)",
            file=sys.stderr,
        )

    signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)
