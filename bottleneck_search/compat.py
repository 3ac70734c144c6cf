"""Every touch of a private Keras, Keras Tuner, KerasHub or TensorFlow attribute, and the reason.

Nothing else in the package reaches behind these libraries' public API. `pyproject.toml` caps
`keras` and `keras-tuner` at the minor versions these were tested with, and `tests/test_compat.py`
exercises each function here, so an upgrade that moves one fails there, loudly, rather than deep
inside a search.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator

# -- Keras -------------------------------------------------------------------------------------


def operation_classes(names: Iterable[str]) -> dict[str, type]:
    """The `keras.ops` operation classes named `module.Class` (`"numpy.Matmul"`, `"nn.Gelu"`).

    A functional graph, and a custom layer's `call` traced on symbolic tensors, hold instances of
    these classes (`x + y` puts a `numpy.Add` there); Keras exports the functions (`keras.ops.add`),
    not the classes, and the FLOP counter looks counting functions up by class. Raises `KeyError`
    naming the first class this Keras lacks.
    """
    from keras.src.ops import core, math, nn, numpy

    modules = {"core": core, "math": math, "nn": nn, "numpy": numpy}
    classes = {}
    for name in names:
        module, _, class_name = name.partition(".")
        cls = getattr(modules.get(module), class_name, None)
        if not isinstance(cls, type):
            raise KeyError(f"keras.src.ops.{name} is not an operation class in this Keras.")
        classes[name] = cls
    return classes


def call_arguments(node) -> tuple[tuple, dict]:
    """The `(args, kwargs)` a graph node's layer was called with, Keras tensors included.

    `Node.arguments` keeps them; the FLOP counter re-runs a custom layer's `call` with the same
    non-tensor arguments to see what it computes.
    """
    return node.arguments.args, node.arguments.kwargs


@contextlib.contextmanager
def graph_unchanged(layer) -> Iterator[None]:
    """Undoes, on exit, the graph nodes that calls on Keras tensors add to `layer` and its sublayers.

    Calling a layer on Keras tensors appends a `Node` to its `_inbound_nodes` and its input
    layers' `_outbound_nodes`, and Keras has no public way to drop one. The FLOP counter traces a
    custom layer's `call` on throwaway tensors; this leaves the layer's graph as it was, however
    far the trace got. Only appended nodes are dropped, so traces may nest.
    """
    layers = list(layer._flatten_layers(include_self=True, recursive=True))
    lengths = [(len(item._inbound_nodes), len(item._outbound_nodes)) for item in layers]
    try:
        yield
    finally:
        for item, (inbound, outbound) in zip(layers, lengths, strict=True):
            del item._inbound_nodes[inbound:]
            del item._outbound_nodes[outbound:]


def build_training_state(model, data) -> None:
    """Builds a compiled model's loss, metrics and optimizer variables from `data`'s element spec,
    before TensorFlow traces its first training or evaluation step.

    Without a `tf.distribute` strategy, Keras' TensorFlow trainer leaves these to the first
    trace of the step (`_maybe_symbolic_build` returns early); a `tf.function` that creates
    variables is then traced a second time, which was a third of a two-epoch fit of the tiny
    space (1.7 s -> 1.1 s, measured on 2 CPU cores). This does the same symbolic build Keras runs
    under a strategy (`Trainer._symbolic_build`). It is skipped for other backends (their trainers
    build first themselves), for a model under a strategy (Keras builds it then), for data without
    an element spec (arrays, `PyDataset`: Keras builds from a batch) and for specs with unknown
    dimensions after the batch (a symbolic build could not give the shapes a real batch has).
    """
    import keras

    if keras.backend.backend() != "tensorflow" or model._distribute_strategy is not None:
        return
    spec = getattr(data, "element_spec", None)
    specs = keras.tree.flatten(spec) if spec is not None else []
    if not specs or any(None in tuple(s.shape)[1:] for s in specs):
        return
    model._symbolic_build(data_batch=spec)


def application_layer_classes() -> dict[str, type]:
    """The layer classes `keras.applications` models use that Keras does not export.

    `LayerScale` and `StochasticDepth` (ConvNeXt) and `CustomScaleLayer` (InceptionResNetV2) live
    in the application modules; the FLOP counter registers counting functions for them by class.
    """
    from keras.src.applications import convnext, inception_resnet_v2

    return {
        "LayerScale": convnext.LayerScale,
        "StochasticDepth": convnext.StochasticDepth,
        "CustomScaleLayer": inception_resnet_v2.CustomScaleLayer,
    }


# KerasHub is optional; the counter names its classes rather than importing it.
KERAS_HUB_AFFINE_LAYER = "keras_hub.src.models.hgnetv2.hgnetv2_layers.HGNetV2LearnableAffineBlock"
"""HGNetV2's `scale * x + bias`, written with backend tensors that symbolic tracing cannot follow."""


def variable_shape(variable) -> tuple[int, ...]:
    """A Keras variable's shape as a tuple of ints.

    `KerasVariable._shape` is that tuple; the TensorFlow backend's public `shape` builds a
    `TensorShape` on every access, which made parameter counting most of `count_flops`' time.
    """
    return variable._shape


def sequential_graph(model):
    """The functional graph inside a built `keras.Sequential`, or None before it has an input shape.

    Keras keeps it as `Sequential._functional`; there is no public accessor for its nodes.
    """
    return getattr(model, "_functional", None)


def nodes_by_depth(graph) -> dict | None:
    """`{depth: [Node, ...]}` of a functional model, or None for a model without a static graph.

    `Functional._nodes_by_depth` is the only execution order Keras keeps that includes every
    call of a shared layer; `model.operations` lists each layer once.
    """
    return getattr(graph, "_nodes_by_depth", None)


# -- Keras Tuner -------------------------------------------------------------------------------


@contextlib.contextmanager
def keras_tuner_json_writer(write: Callable[[str, object, Callable], str]) -> Iterator[None]:
    """Routes Keras Tuner's state-file writes through `write(path, obj, original) -> text` while open.

    `original` is Keras Tuner's own writer, for paths `write` leaves to it.

    Keras Tuner writes `oracle.json`, `tuner0.json` and every `trial.json` with
    `keras_tuner.src.utils.save_json`, in place; it has no hook for how a state file is written.
    """
    from keras_tuner.src import utils

    original = utils.save_json

    def save_json(path, obj):
        return write(path, obj, original)

    utils.save_json = save_json
    try:
        yield
    finally:
        utils.save_json = original


def retry_queue(oracle) -> list:
    """The oracle's queue of trial ids to run again (`Oracle._retry_queue`).

    Keras Tuner fills it itself for trials that end `INVALID`; a trial orphaned by a kill has to
    be put there by hand, and there is no public method for that.
    """
    return oracle._retry_queue


@contextlib.contextmanager
def oracle_lock(oracle) -> Iterator[None]:
    """Holds the lock that Keras Tuner's `@synchronized` oracle methods take, released on any exit.

    `keras_tuner.synchronized` only supports methods of an `Oracle` subclass, and leaves the lock
    held if the method raises. This takes the same per-oracle lock (so gRPC calls from workers
    wait), marks the thread as its holder (so the oracle's own synchronized methods called inside
    do not deadlock), and always releases it.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    name = threading.current_thread().name
    if oracle_module.THREADS[oracle] == name:  # already held by this thread
        yield
        return
    with oracle_module.LOCKS[oracle]:
        oracle_module.THREADS[oracle] = name
        try:
            yield
        finally:
            oracle_module.THREADS[oracle] = None


@contextlib.contextmanager
def keras_tuner_debug(enabled: bool) -> Iterator[None]:
    """Sets Keras Tuner's `config.DEBUG` (print every failed trial's traceback) while open.

    The flag has no public setter; the CLI turns it off because its progress line already gives
    the reason of a failed trial.
    """
    from keras_tuner.src import config

    previous = config.DEBUG
    config.DEBUG = enabled
    try:
        yield
    finally:
        config.DEBUG = previous


def oracle_service_stub(channel):
    """A client for the chief's gRPC oracle service, and the request that asks for its space.

    Keras Tuner generates its gRPC protos under `keras_tuner.src.protos` and exports no client;
    a worker uses it to read the chief's config hash before it touches the oracle.
    """
    from keras_tuner.src import protos

    return protos.get_service_grpc().OracleStub(channel), protos.get_service().GetSpaceRequest()


def keras_tuner_servicer(oracle):
    """Keras Tuner's own gRPC servicer over `oracle` (`OracleServicer`, which answers every call
    unchecked), and the function that adds a servicer of its protocol to a `grpc.Server`.

    Keras Tuner builds and starts this servicer only inside its chief's `Tuner.search`, on a
    plain port that cannot be stopped early or checked; `search.served.oracle_server` serves it
    behind its own checks instead.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    return OracleServicer(oracle), protos.get_service_grpc().add_OracleServicer_to_server


def connect_oracle_client(client, channel) -> None:
    """Makes a worker's `OracleClient` send its calls over `channel`.

    Keras Tuner's client opens its own plain channel from `KERASTUNER_ORACLE_IP`/`_PORT` and takes
    no credentials; its calls go through its `stub` attribute, replaced here with one over
    `channel` (which adds the run's token, TLS and a bounded wait; see `search.served.auth`).
    """
    from keras_tuner.src import protos

    client.stub = protos.get_service_grpc().OracleStub(channel)


def remember_values(oracle, trial) -> None:
    """Records `trial`'s values as tried (`Oracle._record_values`: `_tried_so_far`, `_id_to_hash`),
    as Keras Tuner does when it issues a trial, so that its oracle does not draw the same values again.

    Keras Tuner has no public way to tell a reloaded oracle about a trial its `oracle.json` missed.
    """
    oracle._record_values(trial)


def quiet_condition_protos() -> None:
    """Stops Keras Tuner printing a condition's first value each time a conditional
    hyperparameter is turned into its gRPC message (`conditions.Parent.to_proto` has a stray
    `print`): a served oracle would print a line per trial sent. The message is built as Keras
    Tuner builds it, without the print."""
    from keras_tuner.src import protos
    from keras_tuner.src.engine import conditions

    original = conditions.Parent.to_proto
    if getattr(original, "keras_tuners", None) is not None:  # done already
        return

    def to_proto(self):
        proto = protos.get_proto()
        first = self.values[0]
        kind = (
            "string_value"
            if isinstance(first, str)
            else "boolean_value"
            if isinstance(first, bool)
            else "int_value"
            if isinstance(first, int)
            else "float_value"
        )
        values = [proto.Value(**{kind: value}) for value in self.values]
        return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))

    to_proto.keras_tuners = original
    conditions.Parent.to_proto = to_proto


def has_hyperparameter(space, hp) -> bool:
    """Whether the `HyperParameters` `space` already has `hp` (same name and conditions), as
    Keras Tuner's `Oracle.update_space` decides what is new (`HyperParameters._exists`)."""
    return space._exists(hp.name, hp.conditions)


def last_failures(oracle) -> None:
    """Makes the oracle's consecutive-failure check look back only over the current run of
    failures instead of every ended trial (`Oracle._check_consecutive_failures`).

    Keras Tuner's check walks the whole `end_order` on every ended trial, work that grows with
    the trials done. The run that ends at the newest trial is the only one that can have reached
    the limit (an older one would have raised when it did), so the outcome is the same.
    """
    from keras_tuner.src.engine import trial as trial_module

    def check():
        limit = oracle.max_consecutive_failed_trials
        run = 0
        for run, trial_id in enumerate(reversed(oracle.end_order), start=1):  # noqa: B007
            if oracle.trials[trial_id].status != trial_module.TrialStatus.FAILED:
                run -= 1
                break
        if limit and run >= limit:
            newest = oracle.trials[oracle.end_order[-1]]
            raise RuntimeError(
                f"Number of consecutive failures exceeded the limit of {limit}.\n"
                + (newest.message or "")
            )

    oracle._check_consecutive_failures = check


def trial_of(callbacks) -> object | None:
    """The Keras Tuner `Trial` that a tuner's `run_trial` hands to `HyperModel.fit` in `callbacks`.

    Every stock tuner passes its `TunerCallback`, which carries `.trial`; a `HyperModel` has no
    other way to learn which trial it is fitting.
    """
    for callback in callbacks:
        trial = getattr(callback, "trial", None)
        if trial is not None and hasattr(trial, "trial_id"):
            return trial
    return None


def is_consecutive_failure_stop(error: BaseException) -> bool:
    """Whether `error` is Keras Tuner's stop after `max_consecutive_failed_trials` failures.

    Keras Tuner raises a plain `RuntimeError` for it, told apart only by its message.
    """
    return isinstance(error, RuntimeError) and str(error).startswith(
        "Number of consecutive failures"
    )


def is_hparams_callback(callback) -> bool:
    """Whether `callback` is TensorBoard's `hparams.api.KerasCallback`, which Keras Tuner pairs
    with each `TensorBoard` callback.

    Matched by module name so that `tensorboard` is imported only when a TensorBoard callback is
    in use.
    """
    return type(callback).__module__.startswith("tensorboard.plugins.hparams")
