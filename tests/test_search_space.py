"""SearchSpace: the shipped backbones, GoogLeNet against a hand count, and the closed-form cost."""

import json
import math
import random

import keras
import pytest
from conftest import SPACES, make_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bottleneck_search import Architecture, SearchSpace, SearchSpaceError, count_flops

# GoogLeNet Table 1: (module, input channels, spatial size, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
GOOGLENET_TABLE = [
    ("inception_3a", 192, 28, 64, 96, 128, 16, 32, 32),
    ("inception_3b", 256, 28, 128, 128, 192, 32, 96, 64),
    ("inception_4a", 480, 14, 192, 96, 208, 16, 48, 64),
    ("inception_4b", 512, 14, 160, 112, 224, 24, 64, 64),
    ("inception_4c", 512, 14, 128, 128, 256, 24, 64, 64),
    ("inception_4d", 512, 14, 112, 144, 288, 32, 64, 64),
    ("inception_4e", 528, 14, 256, 160, 320, 32, 128, 128),
    ("inception_5a", 832, 7, 256, 160, 320, 32, 128, 128),
    ("inception_5b", 832, 7, 384, 192, 384, 48, 128, 128),
]


def hand_count(c_in, size, b1, r3, b3, r5, b5, proj):
    """MACs and params (with biases) of one Inception module, from the table's widths."""
    pixels = size * size
    macs = pixels * (c_in * b1 + c_in * r3 + 9 * r3 * b3 + c_in * r5 + 25 * r5 * b5 + c_in * proj)
    weights = c_in * b1 + c_in * r3 + 9 * r3 * b3 + c_in * r5 + 25 * r5 * b5 + c_in * proj
    biases = b1 + r3 + b3 + r5 + b5 + proj
    return macs, weights + biases


@pytest.fixture(scope="module")
def googlenet():
    return SearchSpace.from_yaml(SPACES / "googlenet.yaml")


def test_googlenet_has_19_sites(googlenet):
    names = [site.name for site in googlenet.sites]
    assert len(names) == 19
    assert names[0] == "conv2"  # the stem's 3x3; the 7x7 on 3 channels offers no width
    assert names[1:3] == ["inception_3a_3x3", "inception_3a_5x5"]
    stem = googlenet.sites[0]
    assert (stem.in_channels, stem.out_channels, stem.reference) == (64, 192, 64)
    assert 64 in stem.widths  # equal to the input channels is allowed


@pytest.mark.slow
def test_googlenet_reference_matches_hand_count_per_module(googlenet):
    costs = {
        name: (macs, params) for name, macs, params in googlenet.block_costs(googlenet.reference)
    }
    for module, *widths in GOOGLENET_TABLE:
        assert costs[module] == hand_count(*widths), module
    # stem 3x3 with its 64 -> 64 reduction at 56x56: 56*56*(64*64 + 9*64*192)
    assert costs["conv2"] == (56 * 56 * (64 * 64 + 9 * 64 * 192), 64 * 64 + 64 + 9 * 64 * 192 + 192)
    assert costs["inception_4a"][0] == 73_608_192  # includes the seed's 1.5M + 3.8M 5x5 branch


def test_googlenet_reference_is_the_paper_widths(googlenet):
    widths = googlenet.reference.widths
    for module, _, _, _, r3, _, r5, _, _ in GOOGLENET_TABLE:
        assert widths[f"{module}_3x3"] == r3 and widths[f"{module}_5x5"] == r5


@pytest.mark.parametrize(
    "spec, n_sites",
    [("inception_mini.yaml", 4), ("vgg_small.yaml", 5), ("resnet_small.yaml", 6)],
)
def test_small_spaces(spec, n_sites):
    space = SearchSpace.from_yaml(SPACES / spec)
    assert len(space.sites) == n_sites
    assert space.size == math.prod(len(s.widths) + 1 for s in space.sites)
    assert space.cheapest().macs <= space.no_bottleneck().macs <= space.most_expensive().macs


def test_size_counts_every_choice():
    space = SearchSpace.from_yaml(SPACES / "inception_mini.yaml")
    # mix1 sites see the stem's 32 channels: 1/8, 1/4, 1/2 round to 8, 8, 16 (multiples of 8).
    # mix2 sites see 16 + 48 + 24 + 16 = 104: 13 -> 16, 26 -> 24, 52 -> 48 (ties round to even).
    assert [s.widths for s in space.sites] == [(8, 16), (8, 16), (16, 24, 48), (16, 24, 48)]
    assert space.size == 3 * 3 * 4 * 4


def test_sample_is_reproducible_and_valid():
    space = SearchSpace.from_yaml(SPACES / "resnet_small.yaml")
    first = [space.sample(random.Random(7)) for _ in range(3)]
    again = [space.sample(random.Random(7)) for _ in range(3)]
    assert first == again
    assert all(space.validate(a) == a for a in first)


CLOSED_FORM_EXAMPLES = {
    "inception_mini.yaml": 80,
    "vgg_small.yaml": 60,
    "resnet_small.yaml": 60,
    "googlenet.yaml": 12,
}


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(CLOSED_FORM_EXAMPLES))
def test_closed_form_equals_counter(spec):
    space = SearchSpace.from_yaml(SPACES / spec)

    @settings(
        max_examples=CLOSED_FORM_EXAMPLES[spec],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.randoms(use_true_random=False))
    def check(rng):
        architecture = space.sample(rng)
        report = count_flops(space.build(architecture))
        assert (report.macs, report.flops, report.params) == space.cost(architecture)

    check()


def test_validate_rejects_unknown_sites_and_widths():
    space = SearchSpace.from_yaml(SPACES / "inception_mini.yaml")
    with pytest.raises(
        SearchSpaceError, match="names site 'mix3_3x3', which space 'inception_mini' lacks"
    ):
        space.validate({"mix3_3x3": 8})
    with pytest.raises(SearchSpaceError, match=r"'mix1_3x3' does not offer width 12.*\[8, 16\]"):
        space.validate({"mix1_3x3": 12})
    partial = space.validate({"mix1_3x3": 8})
    assert partial.widths == {"mix1_3x3": 8, "mix1_5x5": None, "mix2_3x3": None, "mix2_5x5": None}


def test_architecture_json_round_trip_is_readable():
    space = SearchSpace.from_yaml(SPACES / "inception_mini.yaml")
    architecture = space.validate({"mix1_3x3": 16, "mix2_5x5": 24})
    text = architecture.to_json()
    assert (
        '"mix1_3x3": 16' in text
        and '"mix1_5x5": null' in text
        and f'"macs": {architecture.macs}' in text
    )
    assert Architecture.from_json(text) == architecture
    assert Architecture.from_json(text).macs == space.macs(architecture)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ('{"widths": {}}', "'sites' mapping"),
        ('{"sites": {"a": 0}}', "site 'a' has width 0"),
        ('{"sites": {"a": "wide"}}', "site 'a' has width 'wide'"),
        ('{"sites": {"a": 1.5}}', "site 'a' has width 1.5"),
    ],
)
def test_architecture_json_errors(text, message):
    with pytest.raises(SearchSpaceError, match=message):
        Architecture.from_json(text)


def test_an_architecture_reads_from_every_form_a_user_may_paste():
    space = SearchSpace.from_yaml(SPACES / "inception_mini.yaml")
    expected = space.validate({"mix1_3x3": 16, "mix2_5x5": 24})
    trial_line = make_record("07", architecture=expected.widths).to_json()
    forms = [
        expected.to_json(),  # an export's architecture.json
        trial_line,  # a line of trials.jsonl
        json.dumps(expected.widths),  # the bare {site: width} mapping of that line
    ]
    for text in forms:
        parsed = Architecture.from_json(text)
        assert parsed == expected and space.validate(json.loads(text)) == expected
        assert space.macs(parsed) == expected.macs


def test_a_space_rebuilds_from_its_config_as_keras_objects_do(tmp_path):
    from bottleneck_search.space.catalog import load_search_space

    yaml_space = SearchSpace.from_yaml(SPACES / "inception_mini.yaml", classes=7)
    config = yaml_space.get_config()
    assert json.loads(json.dumps(config)) == config  # plain JSON
    again = SearchSpace.from_config(config)
    assert again.source["classes"] == 7 and again.size == yaml_space.size
    assert [again.macs(a) for a in (again.cheapest(), again.no_bottleneck())] == [
        yaml_space.macs(a) for a in (yaml_space.cheapest(), yaml_space.no_bottleneck())
    ]

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", name="a")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", name="b")(x)
    keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x)).save(tmp_path / "m.keras")
    model_space = load_search_space(
        None, str(tmp_path / "m.keras"), widths=[4, 8], include_frozen=True
    )
    rebuilt = SearchSpace.from_config(model_space.get_config())  # loads the file itself
    assert [s.widths for s in rebuilt.sites] == [s.widths for s in model_space.sites] == [(4, 8)]
    assert rebuilt.get_config() == model_space.get_config()

    in_memory = SearchSpace.from_model(rebuilt.base_model, widths=[4])
    with pytest.raises(SearchSpaceError, match="only in memory: pass it"):
        SearchSpace.from_config(in_memory.get_config())
    assert SearchSpace.from_config(in_memory.get_config(), model=rebuilt.base_model).size == 2

    edited = tmp_path / "edited.yaml"
    edited.write_text((SPACES / "inception_mini.yaml").read_text())
    config = SearchSpace.from_yaml(edited).get_config()
    edited.write_text(edited.read_text() + "\n# edited\n")
    with pytest.raises(SearchSpaceError, match="changed since this config was saved"):
        SearchSpace.from_config(config)
