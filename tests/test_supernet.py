"""`Supernet`: with an architecture set, it computes exactly what that architecture built on its own
computes with the sliced weights; sampling reaches every architecture; the sandwich rule; batch-norm
recalibration; a trained supernet scores architectures above chance."""

import keras
import numpy as np
import pytest
from conftest import TINY_SPACE
from test_from_model import nested_model

from bottleneck_search import SearchConfigError, SearchSpace, count_flops, load_dataset
from bottleneck_search.space import ReductionOptions
from bottleneck_search.supernet import Supernet
from bottleneck_search.supernet.distillation import InPlaceDistillation

L = keras.layers
# The tiny space with batch-normalised linear reductions and a dropout before the classifier.
BN_SPACE = (
    TINY_SPACE.replace(
        "  batch_norm: true\n",
        "  batch_norm: true\n  reduction: {batch_norm: true, activation: linear}\n",
    )
    + "  - dropout: {name: drop, rate: 0.5}\n"
)


def _space(tmp_path, text) -> SearchSpace:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return SearchSpace.from_yaml(path)


def _randomise(model, seed=0):
    """Random values in every weight (batch-norm statistics included), so no output is trivial."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.dtype == "int32":
            continue
        values = rng.normal(size=weight.shape).astype("float32")
        if "variance" in weight.path:
            values = np.abs(values) + 0.5
        weight.assign(values)


def _outputs_by_architecture(supernet, image) -> dict:
    """What each architecture of the supernet's space outputs for one image, by its widths; the
    supernet samples again afterwards."""
    outputs = {}
    for architecture in supernet.space.architectures():
        supernet.set_architecture(architecture)
        outputs[tuple(architecture.widths.values())] = np.asarray(supernet.model(image))[0]
    supernet.sample_architectures()
    return outputs


def _inputs(shape, batch=16, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, *shape)).astype("float32")


@pytest.mark.parametrize("kind", ["yaml", "yaml_bn", "nested_model"])
def test_each_architecture_equals_its_own_network_with_the_sliced_weights(tmp_path, kind):
    if kind == "nested_model":
        space = SearchSpace.from_model(
            nested_model(), widths=[4, 8], reduction=ReductionOptions(batch_norm=True)
        )
    else:
        space = _space(tmp_path, TINY_SPACE if kind == "yaml" else BN_SPACE)
    supernet = Supernet(space, seed=0)
    _randomise(supernet.model)
    x = _inputs(space.source["input_shape"])
    for architecture in space.architectures():
        supernet.set_architecture(architecture)
        subnet = supernet.subnet(architecture)
        np.testing.assert_allclose(
            np.asarray(supernet.model(x, training=False)),
            np.asarray(subnet(x, training=False)),
            rtol=1e-5,
            atol=1e-5,
            err_msg=str(architecture.widths),
        )
        assert count_flops(subnet).macs == space.macs(architecture) == architecture.macs


def test_no_reduction_bypasses_the_reduction_and_a_width_bypasses_the_full_conv(tmp_path):
    space = _space(tmp_path, TINY_SPACE)
    supernet = Supernet(space, seed=0)
    x = _inputs((8, 8, 1))
    site = supernet.sites["body1"]
    supernet.set_architecture({"body1": None, "body2": 8})
    before = np.asarray(supernet.model(x))
    _randomise(site.reduce, seed=5)
    _randomise(site.reduced, seed=6)
    np.testing.assert_array_equal(before, np.asarray(supernet.model(x)))
    supernet.set_architecture({"body1": 4, "body2": 8})
    before = np.asarray(supernet.model(x))
    _randomise(site.full, seed=7)
    np.testing.assert_array_equal(before, np.asarray(supernet.model(x)))
    # Channels beyond the chosen width carry nothing: changing the 5th..8th filters changes nothing.
    kernel, bias = site.reduce.get_weights()
    kernel[..., 4:] += 3.0
    site.reduce.set_weights([kernel, bias])
    np.testing.assert_array_equal(before, np.asarray(supernet.model(x)))


def test_sampling_reaches_every_architecture_and_sandwiches_the_largest_and_smallest(tmp_path):
    space = _space(tmp_path, TINY_SPACE)
    supernet = Supernet(space, seed=3)
    x = np.repeat(_inputs((8, 8, 1), batch=1), 256, axis=0)  # one image, 256 times
    outputs = _outputs_by_architecture(supernet, x[:1])
    sampled = np.asarray(supernet.model(x))  # inference mode: each example still samples

    def which(row):
        matches = [k for k, out in outputs.items() if np.allclose(row, out, atol=1e-5)]
        assert len(matches) == 1
        return matches[0]

    taken = [which(row) for row in sampled]
    largest = tuple(space.most_expensive().widths.values())
    smallest = tuple(space.cheapest().widths.values())
    assert set(taken[0::4]) == {largest} and set(taken[1::4]) == {smallest}
    assert set(taken) == set(outputs)  # all 9 architectures drawn among 128 uniform examples


def test_recalibration_sets_the_statistics_and_evaluation_restores_them(tmp_path, digits):
    space = _space(tmp_path, BN_SPACE)
    supernet = Supernet(space, seed=0)
    supernet.model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    norm = supernet.model.get_layer("body2_bn")
    saved = norm.moving_mean.numpy().copy()
    batches = list(digits.train.take(3))

    result = supernet.evaluate({"body1": 4, "body2": None}, digits.val, batches, 3)
    np.testing.assert_array_equal(norm.moving_mean.numpy(), saved)  # restored
    assert all(s.choice.numpy() == -1 for s in supernet.sites.values())  # sampling again
    assert result.architecture.macs == space.macs({"body1": 4})
    assert set(result.metrics) == {"loss", "accuracy"}

    supernet.set_architecture({"body1": 4, "body2": None})
    assert supernet.recalibrate(batches, 3) == 3
    # The moving mean is now the mean of body2's output over the 3 batches, channel by channel.
    probe = keras.Model(supernet.model.inputs, supernet.model.get_layer("body2").output)
    images = np.concatenate([x for x, _ in batches])  # one pass over all (as recalibration runs)
    expected = np.asarray(probe(images, training=True))
    np.testing.assert_allclose(norm.moving_mean.numpy(), expected.mean(axis=(0, 1, 2)), atol=1e-4)
    assert not np.allclose(norm.moving_mean.numpy(), saved)
    assert supernet.model.get_layer("drop").rate == 0.5  # dropout was off, and is back


def test_evaluate_needs_a_compiled_supernet(tmp_path, digits):
    supernet = Supernet(_space(tmp_path, TINY_SPACE))
    with pytest.raises(SearchConfigError, match="compile supernet.model first"):
        supernet.evaluate({}, digits.val, digits.train)


@pytest.mark.slow  # over 10 s: CI runs it, the edit loop (make test-fast) does not
@pytest.mark.parametrize("distill", [False, True])
def test_a_trained_supernet_scores_its_architectures_above_chance(tmp_path, distill):
    # Its own pipeline: the session's `digits` reshuffles on every pass, so its order here would
    # depend on the tests that ran before in this process (the scores below moved with it).
    digits = load_dataset("digits", (8, 8, 1), batch_size=64)
    space = _space(tmp_path, TINY_SPACE)
    keras.utils.set_random_seed(0)
    supernet = Supernet(space, seed=0, distill=distill)
    supernet.model.compile(
        keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    supernet.model.fit(digits.train, epochs=4, verbose=0)
    calibration = list(digits.train.take(4))
    scores = {
        tuple(a.widths.values()): supernet.evaluate(a, digits.val, calibration).accuracy
        for a in space.architectures()
    }
    print(scores)
    largest = tuple(space.most_expensive().widths.values())
    others = [score for widths, score in scores.items() if widths != largest]
    if distill:  # 10 classes: chance is 0.1
        # The largest learns from the labels on every example; the others, from its predictions,
        # lag behind after 4 epochs (0.18-0.52 seen, largest ~0.93).
        assert scores[largest] > 0.8 and np.mean(others) > 0.2
    else:
        assert min(scores.values()) > 0.3
    # A subnet carries its supernet's accuracy when built on its own.
    best = max(scores, key=scores.get)
    architecture = dict(zip(["body1", "body2"], best, strict=True))
    supernet.set_architecture(architecture)
    supernet.recalibrate(calibration, 4)
    subnet = supernet.subnet(architecture)
    subnet.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert subnet.evaluate(digits.val, verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        scores[best], abs=1e-6
    )


def test_per_batch_sampling_gives_a_whole_batch_one_architecture_agreed_by_every_site(tmp_path):
    space = _space(tmp_path, TINY_SPACE)
    supernet = Supernet(space, seed=3, per_batch=True)
    x = np.repeat(_inputs((8, 8, 1), batch=1), 8, axis=0)
    outputs = _outputs_by_architecture(supernet, x[:1])
    taken = []
    for _ in range(80):
        batch = np.asarray(supernet.model(x))
        assert np.allclose(batch, batch[0], atol=1e-6)  # one architecture for the whole batch
        taken.append(next(k for k, out in outputs.items() if np.allclose(batch[0], out, atol=1e-5)))
    largest = tuple(space.most_expensive().widths.values())
    smallest = tuple(space.cheapest().widths.values())
    assert set(taken) == set(outputs)  # every architecture drawn
    # The sites agree on the sandwich draw: a quarter each for the largest and the smallest, plus
    # their share of the uniform draws (1/2 x 1/9): about 30% each (24 of 80; 28 and 24 drawn
    # here). Sites drawing on their own would reach both ends together in (5/12)^2, 17% (14).
    assert taken.count(largest) >= 18 and taken.count(smallest) >= 18


def test_distillation_pairs_each_example_with_the_largest_architecture_as_its_teacher(tmp_path):
    space = _space(tmp_path, TINY_SPACE)
    supernet = Supernet(space, seed=3, distill=True)
    x = np.repeat(_inputs((8, 8, 1), batch=1), 256, axis=0)
    outputs = _outputs_by_architecture(supernet, x[:1])
    # The network itself, in inference mode, on the pairs the training-mode model makes.
    sampled = np.asarray(supernet.body(x))
    taken = [
        next(k for k, out in outputs.items() if np.allclose(row, out, atol=1e-5)) for row in sampled
    ]
    largest = tuple(space.most_expensive().widths.values())
    smallest = tuple(space.cheapest().widths.values())
    teachers, students = taken[0::2], taken[1::2]
    assert set(teachers) == {largest}
    assert set(students[1::4]) == {smallest}  # the sandwich rule, among the students
    assert set(students) == set(outputs)
    # Training mode pairs the examples: 256 in, 256 out, and the students' loss is added.
    assert supernet.model(x, training=True).shape[0] == 256
    assert len(supernet.model.losses) == 1


def test_distillation_returns_the_teachers_predictions_and_adds_the_students_divergence():
    rng = np.random.default_rng(0)
    predictions = rng.dirichlet(np.ones(5), size=6).astype("float32")  # 3 pairs
    layer = InPlaceDistillation(weight=0.5)
    teachers = np.asarray(layer(predictions, training=True))
    np.testing.assert_array_equal(teachers, predictions[0::2])
    t, s = predictions[0::2], predictions[1::2]
    expected = 0.5 * np.mean(np.sum(t * (np.log(t) - np.log(s)), axis=-1))
    assert float(layer.losses[0]) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(np.asarray(layer(predictions)), predictions)  # inference


def test_distillation_needs_one_architecture_per_example(tmp_path):
    with pytest.raises(ValueError, match="per_batch=False"):
        Supernet(_space(tmp_path, TINY_SPACE), per_batch=True, distill=True)
