"""Each private Keras / Keras Tuner attribute `bottleneck_search.compat` relies on, exercised on
the installed versions: an upgrade that moves one fails here, by name, not deep inside a search."""

import importlib
import json
import socket
import threading

import grpc
import keras
import keras_tuner as kt
import pytest

from bottleneck_search import compat


def test_operation_classes_are_what_tensor_arithmetic_puts_in_a_graph():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.ops.matmul(inputs + inputs * inputs, keras.ops.ones((4, 2))))
    found = {
        type(layer) for layer in model.operations if not isinstance(layer, keras.layers.InputLayer)
    }
    classes = compat.operation_classes(["numpy.Add", "numpy.Multiply", "numpy.Matmul"])
    assert found == set(classes.values())
    with pytest.raises(KeyError, match=r"keras.src.ops.numpy.NoSuchOp is not an operation class"):
        compat.operation_classes(["numpy.NoSuchOp"])


def test_call_arguments_are_those_the_layer_was_called_with():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dropout(0.5)(inputs, training=False)
    node = keras.Model(inputs, outputs).layers[-1]._inbound_nodes[0]
    args, kwargs = compat.call_arguments(node)
    assert args == (inputs,) and kwargs == {"training": False}


def test_graph_unchanged_drops_only_the_nodes_added_inside():
    dense = keras.layers.Dense(2)
    first = keras.Input((3,))
    dense(first)
    block = keras.Sequential([dense])
    with compat.graph_unchanged(block):
        dense(keras.Input((3,)))
        dense(keras.Input((3,)))
        assert len(dense._inbound_nodes) == 3
    assert len(dense._inbound_nodes) == 1
    assert dense._inbound_nodes[0].input_tensors[0] is first


def test_keras_hub_affine_layer_is_where_compat_says():
    module_name, _, class_name = compat.KERAS_HUB_AFFINE_LAYER.rpartition(".")
    module = importlib.import_module(module_name)
    assert issubclass(getattr(module, class_name), keras.layers.Layer)


def test_application_layer_classes_are_those_the_applications_use():
    classes = compat.application_layer_classes()
    assert {name: cls.__name__ for name, cls in classes.items()} == {
        "LayerScale": "LayerScale",
        "StochasticDepth": "StochasticDepth",
        "CustomScaleLayer": "CustomScaleLayer",
    }
    model = keras.applications.ConvNeXtTiny(
        weights=None, input_shape=(32, 32, 3), include_top=False
    )
    assert any(isinstance(layer, classes["LayerScale"]) for layer in model.layers)


def test_variable_shape_is_the_shape_tuple():
    layer = keras.layers.Dense(3)
    layer.build((None, 5))
    assert compat.variable_shape(layer.kernel) == (5, 3)


def test_sequential_graph_exists_once_the_model_has_an_input():
    assert compat.sequential_graph(keras.Sequential([keras.layers.Dense(2)])) is None
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    graph = compat.sequential_graph(model)
    assert isinstance(graph, keras.Model)


def test_nodes_by_depth_lists_every_call_of_a_shared_layer():
    shared = keras.layers.Dense(4, name="shared")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, shared(shared(inputs)))
    depths = compat.nodes_by_depth(model)
    calls = [n for nodes in depths.values() for n in nodes if n.operation is shared]
    assert len(calls) == 2
    assert compat.nodes_by_depth(object()) is None


def test_keras_tuner_json_writer_routes_state_files_and_restores(tmp_path):
    seen = []

    def write(path, obj, original):
        seen.append(path)
        return original(path, obj)

    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=1)
    oracle._set_project_dir(str(tmp_path), "p")
    with compat.keras_tuner_json_writer(write):
        oracle.save()
    assert seen and seen[0].endswith("oracle.json")
    assert json.loads((tmp_path / "p" / "oracle.json").read_text())["ongoing_trials"] == {}
    oracle.save()
    assert len(seen) == 1  # the original writer is back


def test_retry_queue_is_the_oracles_own_list():
    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=1)
    queue = compat.retry_queue(oracle)
    assert queue == [] and queue is compat.retry_queue(oracle)
    assert oracle.get_state()["retry_queue"] is queue


def test_oracle_lock_blocks_other_threads_and_is_released_after_an_error():
    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=1)
    entered = threading.Event()
    with pytest.raises(RuntimeError), compat.oracle_lock(oracle):
        with compat.oracle_lock(oracle):  # re-entrant in the holding thread
            pass
        other = threading.Thread(
            target=lambda: (compat.oracle_lock(oracle).__enter__(), entered.set())
        )
        other.start()
        other.join(0.3)
        assert not entered.is_set()  # another thread waits for the lock
        raise RuntimeError("inside")
    other.join(5)
    assert entered.is_set()  # released although the block raised


def test_keras_tuner_debug_is_set_and_restored():
    from keras_tuner.src import config

    before = config.DEBUG
    with compat.keras_tuner_debug(not before):
        assert config.DEBUG is (not before)
    assert config.DEBUG is before


def test_oracle_service_stub_builds_a_client_and_request():
    channel = grpc.insecure_channel("127.0.0.1:1")
    try:
        stub, request = compat.oracle_service_stub(channel)
        assert callable(stub.GetSpace) and type(request).__name__ == "GetSpaceRequest"
    finally:
        channel.close()


def test_serve_oracle_answers_keras_tuners_protocol_until_closed():
    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=1)
    hp = kt.HyperParameters()
    hp.Int("units", 1, 8)
    oracle.update_space(hp)
    with compat.serve_oracle(oracle) as address:
        channel = grpc.insecure_channel(address)
        try:
            stub, request = compat.oracle_service_stub(channel)
            response = stub.GetSpace(request, timeout=10)
        finally:
            channel.close()
    assert [h.name for h in kt.HyperParameters.from_proto(response.hyperparameters).space] == [
        "units"
    ]
    host, port = address.rsplit(":", 1)
    with pytest.raises(OSError):  # stopped: nothing listens there any more
        socket.create_connection((host, int(port)), timeout=1).close()


def test_trial_of_finds_the_trial_in_a_tuners_callbacks():
    trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id="7")

    class TunerCallback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.trial = trial

    assert compat.trial_of([keras.callbacks.History(), TunerCallback()]) is trial
    assert compat.trial_of([keras.callbacks.History()]) is None


def test_consecutive_failure_stop_is_recognised_by_keras_tuners_message(tmp_path):
    oracle = kt.oracles.RandomSearchOracle(
        objective="loss", max_trials=5, max_consecutive_failed_trials=1
    )
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("tuner0")
    trial.status = kt.engine.trial.TrialStatus.FAILED
    with pytest.raises(RuntimeError) as raised:
        oracle.end_trial(trial)
    assert compat.is_consecutive_failure_stop(raised.value)
    assert not compat.is_consecutive_failure_stop(RuntimeError("other"))


def test_is_hparams_callback_matches_tensorboards_hparams_callback(tmp_path):
    from tensorboard.plugins.hparams import api as hparams_api

    callback = hparams_api.KerasCallback(writer=str(tmp_path), hparams={"a": 1})
    assert compat.is_hparams_callback(callback)
    assert not compat.is_hparams_callback(keras.callbacks.TensorBoard(str(tmp_path)))
