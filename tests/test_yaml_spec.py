"""YAML backbone specs: what a bad spec says, with file and line."""

import textwrap

import pytest

from bottleneck_search import SearchSpace, SearchSpaceError

GOOD = """\
name: tiny
input_shape: [16, 16, 3]
classes: 4
defaults:
  widths: [0.5]
layers:
  - conv: {name: stem, filters: 16, kernel: 3}
  - conv: {name: body, filters: 16, kernel: 3}
  - global_pool: {}
"""


def write(tmp_path, text):
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_spec(tmp_path):
    space = SearchSpace.from_yaml(write(tmp_path, GOOD))
    assert [(s.name, s.in_channels, s.widths) for s in space.sites] == [("body", 16, (8,))]
    assert space.reference is None
    assert space.source["kind"] == "yaml" and len(space.source["sha256"]) == 64


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "filters: 16, kernel: 3}\n  - global",
            "filtres: 16, kernel: 3}\n  - global",
            r":8: unknown key 'filtres' in conv block; allowed keys: activation, batch_norm, filters",
        ),
        (
            "  - global_pool: {}",
            "  - globl_pool: {}",
            r":9: unknown block type 'globl_pool'; known block types: conv, pool",
        ),
        ("  widths: [0.5]", "  widths: [0]", r"width 0 must be positive"),
        ("  widths: [0.5]", "  widths: [-8]", r"width -8 must be positive"),
        ("  widths: [0.5]", "  widths: [wide]", r"width 'wide' is not a number"),
        ("  widths: [0.5]", "  widths: [2.5]", r"width 2.5 is a float above 1"),
        ("  widths: [0.5]", "  widths: 8", r":5: 'widths' must be a non-empty list"),
        ("classes: 4", "classes: 0", r":3: 'classes' must be an integer from 1 to 100000"),
        ("classes: 4\n", "", r"missing required key 'classes'"),
        ("name: tiny", "name: ../../etc", r":1: 'name' must be a name of letters"),
        (
            "kernel: 3}\n  - global",
            "kernel: 3, strides: 64}\n  - global",
            r"'strides' must be an integer from 1 to 16",
        ),
        (
            "input_shape: [16, 16, 3]",
            "input_shape: [100000, 16, 3]",
            r"input_shape.*from 1 to 4096",
        ),
        ("  - global_pool: {}\n", "", r"end with global_pool or flatten"),
        ("name: body", "name: stem", r"block name 'stem' is used twice"),
        ("layers:", "layers: [\n", r"not valid YAML"),
    ],
)
def test_bad_spec(tmp_path, old, new, message):
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SearchSpaceError, match=message) as error:
        SearchSpace.from_yaml(path)
    assert str(error.value).startswith(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(SearchSpaceError, match="does not exist"):
        SearchSpace.from_yaml(tmp_path / "nope.yaml")


def test_spec_with_no_sites(tmp_path):
    text = GOOD.replace("  - conv: {name: body, filters: 16, kernel: 3}\n", "")
    with pytest.raises(SearchSpaceError, match="'tiny' has no candidate sites"):
        SearchSpace.from_yaml(write(tmp_path, text))


def test_yaml_tags_are_not_constructed(tmp_path):
    text = GOOD.replace("name: tiny", "name: !!python/object/apply:os.system ['echo hacked']")
    with pytest.raises(SearchSpaceError, match="not valid YAML"):
        SearchSpace.from_yaml(write(tmp_path, text))
