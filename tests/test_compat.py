"""Each private Keras / Keras Tuner attribute `bottleneck_search.compat` relies on, exercised on
the installed versions: an upgrade that moves one fails here, by name, not deep inside a search."""

import importlib
import json
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


def test_training_state_built_before_fit_makes_tensorflow_trace_the_step_once():
    import numpy as np
    import tensorflow as tf

    traces = []

    class Counted(keras.Model):
        def train_step(self, data):
            traces.append(1)  # Python runs only while TensorFlow traces the step
            return super().train_step(data)

    def fitted(build_first):
        traces.clear()
        inputs = keras.Input((4,))
        model = Counted(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        data = tf.data.Dataset.from_tensor_slices(
            (np.ones((10, 4), "float32"), np.zeros(10, "int32"))
        ).batch(4)
        if build_first:
            compat.build_training_state(model, data)
            assert model.optimizer.built
        model.fit(data, epochs=2, verbose=0)
        return len(traces)

    assert fitted(build_first=False) == 2  # what the build avoids: variables made in the trace
    assert fitted(build_first=True) == 1


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


def _oracle_with_units():
    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=6, seed=1)
    hp = kt.HyperParameters()
    hp.Int("units", 1, 8)
    oracle.update_space(hp)
    return oracle, hp


def test_keras_tuner_servicer_answers_its_protocol_on_a_server_we_run():
    from concurrent import futures

    oracle, _ = _oracle_with_units()
    servicer, add_to_server = compat.keras_tuner_servicer(oracle)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    add_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        stub, request = compat.oracle_service_stub(channel)
        response = stub.GetSpace(request, timeout=10)
        assert servicer.stop_triggered is False
    finally:
        channel.close()
        server.stop(grace=None)
    space = kt.HyperParameters.from_proto(response.hyperparameters)
    assert [h.name for h in space.space] == ["units"]


def test_connect_oracle_client_replaces_the_clients_stub(monkeypatch):
    from keras_tuner.src.distribute.oracle_client import OracleClient

    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "w")
    oracle, _ = _oracle_with_units()
    client = OracleClient(oracle)
    channel = grpc.insecure_channel("127.0.0.1:2")
    try:
        before = client.stub
        compat.connect_oracle_client(client, channel)
        assert client.stub is not before and callable(client.stub.CreateTrial)
        assert client.stub.CreateTrial._channel is channel._channel  # calls go over `channel`
    finally:
        channel.close()


def test_last_failures_raises_exactly_when_keras_tuners_check_does():
    statuses = ["COMPLETED", "FAILED", "FAILED", "COMPLETED", "FAILED", "FAILED", "FAILED"]
    for ended in range(1, len(statuses) + 1):
        outcomes = []
        for patched in (False, True):
            oracle, hp = _oracle_with_units()
            oracle.max_consecutive_failed_trials = 3
            for index, status in enumerate(statuses[:ended]):
                trial = kt.engine.trial.Trial(hp.copy(), trial_id=str(index), status=status)
                trial.message = f"trial {index}"
                oracle.trials[str(index)] = trial
                oracle.end_order.append(str(index))
            if patched:
                compat.last_failures(oracle)
            try:
                oracle._check_consecutive_failures()
                outcomes.append(None)
            except RuntimeError as error:
                outcomes.append(str(error))
        assert outcomes[0] == outcomes[1], ended
    assert outcomes[1].startswith("Number of consecutive failures exceeded the limit of 3.")


def test_remember_values_keeps_a_reloaded_oracle_from_drawing_them_again():
    oracle = kt.oracles.RandomSearchOracle(objective="loss", max_trials=6, seed=1)
    hp = kt.HyperParameters()
    hp.Int("units", 1, 2)
    oracle.update_space(hp)
    tried = hp.copy()
    tried.values = {"units": 1}
    compat.remember_values(oracle, kt.engine.trial.Trial(tried, trial_id="0"))
    # Keras Tuner redraws values it has tried (up to 20 times): 2**-20 to draw units=1 again.
    assert oracle.populate_space("1")["values"] == {"units": 2}


def test_quiet_condition_protos_builds_keras_tuners_message_without_printing(capsys):
    from keras_tuner.src.engine import conditions

    parents = [
        conditions.Parent(name, values)
        for name, values in (
            ("kind", ["a", "b"]),
            ("on", [True]),
            ("width", [4, 8]),
            ("rate", [0.5]),
        )
    ]
    compat.quiet_condition_protos()
    keras_tuners = conditions.Parent.to_proto.keras_tuners
    theirs = [keras_tuners(parent) for parent in parents]
    assert capsys.readouterr().out  # Keras Tuner's own prints a line per message
    ours = [parent.to_proto() for parent in parents]
    assert capsys.readouterr().out == ""
    assert ours == theirs


def test_has_hyperparameter_is_keras_tuners_notion_of_known():
    oracle, hp = _oracle_with_units()
    other = kt.HyperParameters()
    other.Int("depth", 1, 3)
    assert compat.has_hyperparameter(oracle.hyperparameters, hp.space[0])
    assert not compat.has_hyperparameter(oracle.hyperparameters, other.space[0])


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
