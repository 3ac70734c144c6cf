"""The backend-independent core on PyTorch (CPU) (see tests/backend_core.py)."""

import pytest
from backend_core import check_the_core_on

pytestmark = pytest.mark.slow


def test_the_core_runs_on_torch(tiny_space_path, tmp_path):
    check_the_core_on("torch", tiny_space_path, tmp_path)
