"""`measure_latency`: how long one inference call of a model takes on this machine.

A measurement makes `warmup` calls first (the first compiles the backend's function, the next
ones settle caches and clocks), then times `repeats` calls one by one on the same random batch,
and reports their median with the 10th and 90th percentiles as its spread. Timed calls:

| runtime | call |
| --- | --- |
| `keras` | `model.predict_on_batch(x)` on the process' Keras backend (what serving from Python costs, the copy to NumPy included) |
| `onnxruntime` | `InferenceSession.run` on the model exported with `model.export(format="onnx")` (TensorFlow backend; the `onnx` extra) |

Threads: `threads=None` leaves the runtime's own choice (all cores); a number sets TensorFlow's
intra-op pool (the inter-op pool to 1), PyTorch's `set_num_threads` or ONNX Runtime's session
options. TensorFlow fixes its pools when it starts: a different number afterwards is refused.
The model is not changed by a measurement.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np

from bottleneck_search.argument_validation import check_choice
from bottleneck_search.errors import LatencyError
from bottleneck_search.limits import check_latency_settings
from bottleneck_search.policy import LATENCY_REPEATS, RUNTIMES

DEFAULT_REPEATS = LATENCY_REPEATS
DEFAULT_WARMUP = 3
# Timed calls per block when models are timed in turn (`time_round_robin`).
BLOCK = 3


@dataclasses.dataclass(frozen=True)
class Latency:
    """One measurement: microseconds per inference call of a whole batch.

    Attributes:
        median_us: the median of the timed calls.
        low_us, high_us: their 10th and 90th percentiles.
        repeats: calls timed; batch_size: examples per call.
        runtime: `keras` or `onnxruntime`; backend: the Keras backend that built the model.
        device: what ran it (a CPU model and its logical cores, or a GPU's name).
        threads: the thread count asked for (None: the runtime's default).

    Example:

    ```python
    latency = measure_latency(my_model, batch_size=1, repeats=3)
    print(f"{latency.median_us:.0f} us on {latency.device}")
    ```
    """

    median_us: float
    low_us: float
    high_us: float
    repeats: int
    batch_size: int
    runtime: str
    backend: str
    device: str
    threads: int | None

    @property
    def spread(self) -> float:
        """`(high - low) / median`: the relative width of the middle 80% of the calls."""
        return (self.high_us - self.low_us) / self.median_us

    def describe(self) -> str:
        """`12.41 ms (11.90-13.02, 20 calls)`."""
        return (
            f"{self.median_us / 1000:.3f} ms ({self.low_us / 1000:.3f}-{self.high_us / 1000:.3f}, "
            f"{self.repeats} calls)"
        )

    def to_json(self) -> str:
        """The figures as JSON text."""
        return json.dumps(dataclasses.asdict(self))


def check_settings(
    batch_size: int = 1, runtime: str = "keras", threads: int | None = None, repeats: int = 1
) -> None:
    """Refuses settings a measurement cannot take, with what to pass instead.

    Raises:
        LatencyError: a batch size, thread count or repeat count that is not a positive
            integer in range, or an unknown runtime.
    """
    check_latency_settings(batch_size, threads, repeats, error=LatencyError)
    check_choice("runtime", runtime, RUNTIMES, error=LatencyError)
    if runtime == "onnxruntime":
        from bottleneck_search.model_io import onnx_unavailable

        reason = onnx_unavailable("latency --runtime onnxruntime")
        if reason is not None:
            raise LatencyError(reason)


def measure_latency(
    model: keras.Model,
    batch_size: int = 1,
    runtime: str = "keras",
    threads: int | None = None,
    repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP,
) -> Latency:
    """Times inference calls of `model` on a random batch (see the module docstring).

    Args:
        model: a built Keras model with fixed input shapes (the batch dimension aside).
        batch_size: examples per call.
        runtime: `keras` or `onnxruntime`.
        threads: the runtime's thread count; None keeps its default.
        repeats: calls timed; warmup: calls made first and not timed.

    Returns:
        A `Latency`.

    Raises:
        LatencyError: bad settings, a model with free input dimensions, or threads TensorFlow
            can no longer change.

    Example:

    ```python
    latency = measure_latency(my_model, batch_size=8, repeats=5)
    print(latency.describe())   # e.g. 1.204 ms (1.150-1.320, 5 calls)
    ```
    """
    check_settings(batch_size, runtime, threads, repeats)
    set_threads(threads, runtime)
    call = inference_call(model, random_batch(model, batch_size), runtime, threads)
    seconds = time_calls(call, repeats, warmup)
    low, high = np.percentile(seconds, [10, 90])
    return Latency(
        median_us=statistics.median(seconds) * 1e6,
        low_us=float(low) * 1e6,
        high_us=float(high) * 1e6,
        repeats=repeats,
        batch_size=batch_size,
        runtime=runtime,
        backend=keras.backend.backend(),
        device=device_name(runtime),
        threads=threads,
    )


def time_calls(call: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Seconds of each of `repeats` calls of `call`, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds


def time_round_robin(
    calls: Sequence[Callable[[], object]], repeats: int, warmup: int
) -> list[list[float]]:
    """Seconds of `repeats` calls of each function of `calls`, timed in turn in blocks of
    `BLOCK` calls, each block after one untimed call (switching models leaves the caches
    holding another's weights), after `warmup` untimed calls of each. Timing them in turn
    cancels what drifts more slowly than one round of blocks.

    Example:

    ```python
    short, long = time_round_robin(
        (lambda: sum(range(10)), lambda: sum(range(100_000))), repeats=5, warmup=1
    )
    print(len(short), min(long) > min(short))   # -> 5 True
    ```
    """
    for _ in range(warmup):
        for call in calls:
            call()
    timings: list[list[float]] = [[] for _ in calls]
    while len(timings[-1]) < repeats:
        for call, seconds in zip(calls, timings, strict=True):
            call()
            for _ in range(min(BLOCK, repeats - len(seconds))):
                started = time.perf_counter()
                call()
                seconds.append(time.perf_counter() - started)
    return timings


def round_robin_calls(repeats: int, warmup: int) -> int:
    """Calls `time_round_robin` makes of each of its functions (warm-up and block starts too)."""
    return repeats + warmup + -(-repeats // BLOCK)


def inference_call(
    model: keras.Model, batch: list[np.ndarray], runtime: str, threads: int | None
) -> Callable[[], object]:
    """A function making one inference call of `model` on `batch` in `runtime`."""
    if runtime == "onnxruntime":
        return _onnx_call(model, batch, threads)
    return _keras_call(model, batch)


def random_batch(model: keras.Model, batch_size: int) -> list[np.ndarray]:
    """One standard-normal float32 array per model input, of `batch_size` examples."""
    rng = np.random.default_rng(0)
    arrays = []
    for tensor in model.inputs:
        shape = tuple(tensor.shape[1:])
        if None in shape:
            raise LatencyError(
                f"Model '{model.name}' has an input of shape {tuple(tensor.shape)} with a free "
                "dimension; a latency is measured at one shape. Rebuild it at a fixed input "
                "shape, e.g. keras.Input((224, 224, 3))."
            )
        arrays.append(rng.standard_normal((batch_size, *shape)).astype("float32"))
    return arrays


def _keras_call(model: keras.Model, batch: list[np.ndarray]) -> Callable[[], object]:
    x = batch[0] if len(batch) == 1 else batch
    return lambda: model.predict_on_batch(x)


def _onnx_call(model: keras.Model, batch: list[np.ndarray], threads: int | None):
    import onnxruntime

    model.predict_on_batch(batch[0] if len(batch) == 1 else batch)  # Keras exports called models
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        model.export(path, format="onnx", verbose=False)
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            path, options, providers=onnxruntime.get_available_providers()
        )
    feeds = {spec.name: array for spec, array in zip(session.get_inputs(), batch, strict=True)}
    return lambda: session.run(None, feeds)


def set_threads(threads: int | None, runtime: str = "keras") -> None:
    """Sets the Keras backend's thread pools to `threads` (None: leaves them).

    Raises:
        LatencyError: TensorFlow already runs with other pools, or JAX (whose pools are set by
            XLA flags before it starts).
    """
    if threads is None or runtime == "onnxruntime":
        return
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.threading.get_intra_op_parallelism_threads() == threads:
            return
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError as error:
            raise LatencyError(
                f"TensorFlow has started with its own thread pools, so threads={threads} cannot "
                "be applied in this process. Pass --threads to a fresh `bottleneck-search "
                "latency` (or call measure_latency(threads=...) before anything else runs on "
                "TensorFlow)."
            ) from error
    else:
        raise LatencyError(
            f"threads cannot be set on the {backend} backend from Python (XLA fixes its pools at "
            "start-up); leave threads unset, or use --runtime onnxruntime or another backend."
        )


def device_name(runtime: str = "keras") -> str:
    """What runs the model: the GPU's name if the backend uses one, else the CPU's model and
    logical core count."""
    gpu = None if runtime == "onnxruntime" else _backend_gpu()
    return gpu or f"{cpu_model()} ({os.cpu_count()} logical cores)"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _backend_gpu() -> str | None:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return details.get("device_name", gpus[0].name)
        return None
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return None if device.platform == "cpu" else device.device_kind
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return None
