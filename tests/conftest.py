import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest

TINY_SPACE = """\
name: tiny
input_shape: [8, 8, 1]
classes: 10
defaults:
  widths: [4, 8]
  batch_norm: true
layers:
  - conv: {name: stem, filters: 16, kernel: 3}
  - conv: {name: body1, filters: 16, kernel: 3}
  - conv: {name: body2, filters: 16, kernel: 3}
  - global_pool: {name: gap}
"""


@pytest.fixture(scope="session")
def tiny_space_path(tmp_path_factory):
    """A 3-conv space on 8x8 digits with two sites (body1, body2), each offering widths 4 and 8."""
    path = tmp_path_factory.mktemp("spaces") / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return str(path)


@pytest.fixture(scope="session")
def tiny_run(tiny_space_path, tmp_path_factory):
    """A finished 3-trial search of the tiny space on 8x8 digits (2 epochs a trial)."""
    from bottleneck_search import SearchConfig, run_search

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    run_search(
        SearchConfig(space=tiny_space_path, run_dir=str(run_dir), max_trials=3, epochs=2, seed=2)
    )
    return run_dir
