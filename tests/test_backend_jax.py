"""The backend-independent core on JAX (see tests/backend_core.py)."""

import pytest
from backend_core import check_the_core_on

pytestmark = pytest.mark.slow


def test_the_core_runs_on_jax(tiny_space_path, tmp_path):
    check_the_core_on("jax", tiny_space_path, tmp_path)
