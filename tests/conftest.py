"""Fixtures and helpers shared by the test modules.

Helpers used in `pytest.mark.parametrize` tables (evaluated at collection) are plain functions
and constants here, imported with `from conftest import ...`; the rest are fixtures.
"""

import gc
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Latency tables the tests measure stay out of the user's cache (one folder per pytest process).
os.environ["BOTTLENECK_SEARCH_CACHE"] = tempfile.mkdtemp(prefix="bottleneck-search-cache-")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPACES = ROOT / "search_spaces"

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


def search_argv(space, run_dir, *extra, trials=2, epochs=1):
    """`search --space SPACE --run-dir RUN_DIR --max-trials T --epochs E EXTRA...`, with
    `--confirm 0` unless EXTRA says otherwise (tests/test_confirm.py tests the stage)."""
    confirm = () if "--confirm" in extra else ("--confirm", "0")
    return [
        "search",
        "--space",
        str(space),
        "--run-dir",
        str(run_dir),
        "--max-trials",
        str(trials),
        "--epochs",
        str(epochs),
        *confirm,
        *extra,
    ]


def hand_table(space, base_us=1000.0, scale=1.0, per_reduction_us=0.0):
    """A `LatencyTable` of `space` with made-up measurements: site i at width w changed latency
    by -(i+1)*w us."""
    changes = {
        site.name: {str(w): -(i + 1.0) * w for w in site.widths}
        for i, site in enumerate(space.sites)
    }
    from bottleneck_search.latency import LatencyTable
    from bottleneck_search.latency.measure import device_name

    return LatencyTable(
        space=space.name,
        settings={
            "batch_size": 1,
            "runtime": "keras",
            "threads": None,
            "repeats": 3,
            "backend": os.environ["KERAS_BACKEND"],
            "device": device_name(),
        },
        base_us=base_us,
        changes=changes,
        base_timings_us=(base_us,),
        network_calls=0,
        block_calls=0,
        seconds=0.0,
        scale=scale,
        per_reduction_us=per_reduction_us,
    )


def cached_hand_table(space_path) -> str:
    """Writes `hand_table` of the YAML space at `space_path` where a search at batch 1 finds it
    (this process' latency cache); returns `space_path`."""
    from bottleneck_search.latency.cache import save_table, table_path
    from bottleneck_search.space.search_space import SearchSpace

    space = SearchSpace.from_yaml(space_path)
    save_table(hand_table(space), table_path(space, 1, "keras", None))
    return str(space_path)


def make_record(
    trial_id, macs=100, accuracy=0.6, status="COMPLETED", score=None, architecture=None
):
    """A `TrialRecord` by hand: completed ones get `score` (default: their accuracy), the others
    neither accuracy nor score; FLOPs are twice the MACs."""
    from bottleneck_search import TrialRecord

    completed = status == "COMPLETED"
    return TrialRecord(
        trial_id=trial_id,
        status=status,
        architecture={"a": 8} if architecture is None else architecture,
        macs=macs,
        flops=2 * macs,
        params=50,
        val_accuracy=accuracy if completed else None,
        score=(accuracy if score is None else score) if completed else None,
        epochs=2,
        seconds=1.5,
    )


@pytest.fixture(autouse=True)
def _frozen_garbage():
    """What the CLI does for a search, done for every test: the objects alive before it leave the
    garbage collector's view, so the two full `gc.collect()` passes Keras Tuner runs before every
    trial stay cheap (without it, TensorFlow's and the session fixtures' objects make the suite
    minutes slower). Objects a test creates are collected as usual."""
    gc.freeze()
    yield


@pytest.fixture
def cli(capsys):
    """Runs `bottleneck-search ARGV...` in this process; returns `(exit code, stdout, stderr)`."""
    from bottleneck_search.cli import main

    def run(*argv):
        code = main([str(word) for word in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits as 8x8x1 pipelines, batches of 64 (1,222 train, 305 validation, 270 test).

    Shared by the tests of a pytest process: its training pipeline reshuffles on every pass, so
    the order a test trains in depends on the tests before it. A test whose threshold is close
    to what it measures loads its own (`load_dataset("digits", (8, 8, 1), batch_size=64)`).
    """
    from bottleneck_search import load_dataset

    return load_dataset("digits", (8, 8, 1), batch_size=64)


@pytest.fixture(scope="session")
def tiny_space_path(tmp_path_factory):
    """A 3-conv space on 8x8 digits with two sites (body1, body2), each offering widths 4 and 8."""
    path = tmp_path_factory.mktemp("spaces") / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return str(path)


@pytest.fixture
def wide_space(tmp_path):
    """The tiny space with six widths a site: 49 architectures, enough for trials that never repeat."""
    path = tmp_path / "wide.yaml"
    path.write_text(
        TINY_SPACE.replace("name: tiny", "name: wide").replace("[4, 8]", "[2, 4, 6, 8, 10, 12]")
    )
    return path


@pytest.fixture(scope="session")
def tiny_run(tiny_space_path, tmp_path_factory):
    """A finished 3-trial search of the tiny space on 8x8 digits (2 epochs a trial), not confirmed."""
    from bottleneck_search import SearchConfig, run_search

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    run_search(
        SearchConfig.from_arguments(  # the flat arguments, as the CLI gives them
            {
                "space": tiny_space_path,
                "run_dir": str(run_dir),
                "max_trials": 3,
                "epochs": 2,
                "seed": 2,
                "confirm": 0,
            }
        )
    )
    return run_dir


@pytest.fixture
def free_models():
    """Gives back, after the test, the memory of the models it built: Keras' global state,
    Python's garbage and the C heap's free pages (glibc keeps them otherwise: after the
    Keras applications and KerasHub backbones a pytest worker held 12 GB)."""
    yield
    import ctypes
    import ctypes.util

    import keras

    keras.backend.clear_session(free_memory=True)
    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc:
        trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)
        if trim is not None:
            trim(0)


def tls_files(folder) -> dict:
    """A CA, a chief certificate it signed for 127.0.0.1 and localhost, that certificate's key and
    a key of another pair, as PEM files in `folder`: `{"ca", "cert", "key", "other_key"}`."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def certificate(subject, key, issuer, signer, *extensions):
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def pem(key):
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key, chief_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = certificate(
        "test CA", ca_key, "test CA", ca_key, (x509.BasicConstraints(True, None), True)
    )
    names = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    cert = certificate("chief", chief_key, "test CA", ca_key, (names, False))
    files = {"ca": ca, "cert": cert, "key": pem(chief_key), "other_key": pem(other_key)}
    paths = {}
    for kind, data in files.items():
        paths[kind] = str(folder / f"{kind}.pem")
        (folder / f"{kind}.pem").write_bytes(data)
    return paths


# The longest test files, longest first (measured on 2 cores): with `--dist loadfile` each pytest
# worker takes the next file when it is free, so starting these first keeps the two workers busy
# to the end instead of one finishing a long file alone. The Makefile passes
# `--no-loadscope-reorder`: by default pytest-xdist reorders files by their number of tests, which
# put the one-test JAX and PyTorch files (93 s and 71 s) last; a fresh-clone CI run's tests then
# took 846 s.
LONGEST_FIRST = (
    "test_trainer_lifecycle.py",
    "test_faults.py",
    "test_user_models.py",
    "test_distributed.py",
    "test_backend_jax.py",
    "test_trainers.py",
    "test_examples.py",
    "test_oneshot.py",
    "test_confirm.py",
    "test_backend_torch.py",
)


def pytest_collection_modifyitems(items):
    """Runs the files of `LONGEST_FIRST` first, in that order; the rest keep theirs."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
