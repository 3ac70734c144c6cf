"""`pip install` of the built wheel gives a working tool, run from a directory outside the
repository: the shipped search spaces come with it as package data.

The wheel goes into a fresh virtual environment that borrows its dependencies (TensorFlow,
Keras, ...) from the test's own environment through a `.pth` line, so the test costs a wheel
build and two short commands rather than a second TensorFlow install. Only site directories
process `.pth` files, so the test environment's editable install of this repository is not
visible there; the first assertion checks that the package comes from the wheel.
"""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def _run(command, cwd, timeout=300):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`(python, bottleneck-search)` of a fresh venv with the wheel installed, not editable."""
    work = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(ROOT)], work
    )
    (wheel,) = work.glob("bottleneck_search-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], work
        ).strip()
    )
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ],
        work,
    )
    return python, venv / "bin" / "bottleneck-search"


def test_the_wheel_holds_the_package_and_its_search_spaces(installed, tmp_path):
    python, _ = installed
    out = _run(
        [
            str(python),
            "-c",
            "import bottleneck_search as b; from bottleneck_search.space.catalog import find_space_file as f; print(b.__file__); print(f('googlenet'))",
        ],
        tmp_path,
    )
    package, googlenet = out.splitlines()
    site = str(python.parent.parent)
    assert package.startswith(site) and googlenet.startswith(
        site
    )  # the wheel's, not the repository's
    assert Path(googlenet).read_text() == (ROOT / "search_spaces" / "googlenet.yaml").read_text()


def test_the_installed_command_counts_and_searches_from_any_directory(installed, tmp_path):
    _, command = installed
    flops = _run([str(command), "flops", "--example"], tmp_path)
    assert "MACs 112,896,000" in flops and "MACs 5,268,480" in flops
    search = _run(
        [
            str(command),
            "search",
            "--max-trials",
            "1",
            "--epochs",
            "1",
            "--confirm",
            "0",
            "--run-dir",
            "run",
        ],
        tmp_path,
    )
    assert "trial 1/1" in search and "1 completed" in search
    assert (
        tmp_path / "run" / "report.md"
    ).is_file()  # the default space, inception_mini, was found
