"""`import bottleneck_search` has no side effects: no TensorFlow import, no output."""

import subprocess
import sys


def test_import_is_silent_and_lazy():
    code = (
        "import sys, bottleneck_search; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
        "assert callable(bottleneck_search.count_flops); "
        "assert 'tensorflow' in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_public_names_resolve():
    import bottleneck_search

    for name in bottleneck_search.__all__:
        assert getattr(bottleneck_search, name) is not None
