"""The backend-independent core on JAX and on PyTorch (CPU): the counter (tracing included), the three kinds of
search space, the supernet, a short search through the CLI (the random tuner), report, export and the refusal
to resume with another backend.

The other stock tuners are Keras Tuner's logic over the same hypermodel and run on TensorFlow
(tests/test_tuners.py). A Hyperband search ran here too until stop 37: 14-20 s a backend, cut when
CI came within 11 s of its 15 minutes; the weights its brackets reload go through the same Keras
saving code the CLI search and export below use.

Each backend runs in its own process (Keras picks its backend once, at import), from its own test
file (tests/test_backend_jax.py, tests/test_backend_torch.py), so the two can run on both pytest
workers at once. The CI's `make test` installs `jax` and the CPU build of `torch` for this.
"""

import json
import os
import subprocess
import sys

from conftest import SPACES

# Runs in a fresh process with KERAS_BACKEND set: library calls, then the CLI in-process.
SCRIPT = """
import json, sys
import keras, keras_tuner
from bottleneck_search import SearchSpace, apply_bottlenecks, bottleneck_conv, count_flops
from bottleneck_search.cli import main
from bottleneck_search.flops.seed_example import seed_example_models

backend, tiny, mini, work = sys.argv[1:]
assert keras.backend.backend() == backend, keras.backend.backend()
direct, reduced = seed_example_models()
facts = {"macs": [count_flops(direct).macs, count_flops(reduced).macs]}

class Residual(keras.layers.Layer):  # no counting function: traced through what it calls
    def build(self, shape):
        self.dense = keras.layers.Dense(shape[-1], use_bias=False)
        self.dense.build(shape)
    def call(self, x):
        return x + keras.ops.gelu(self.dense(x))
tokens = keras.Input((6, 4))
facts["traced"] = count_flops(keras.Model(tokens, Residual()(tokens))).flops

space = SearchSpace.from_yaml(mini)
facts["yaml_reference"] = [space.reference.macs, count_flops(space.build(space.reference)).macs]
inputs = keras.Input((16, 16, 8))
x = keras.layers.Conv2D(16, 3, padding="same", name="conv1")(inputs)
x = keras.layers.Conv2D(16, 3, padding="same", name="conv2")(x)
model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
from_model = SearchSpace.from_model(model)
chosen = from_model.validate({"conv2": 8})
facts["model"] = [from_model.macs(chosen), count_flops(apply_bottlenecks(model, chosen)).macs]
hp = keras_tuner.HyperParameters()
hp.values["conv1/reduce"] = True
hp.values["conv1/width"] = 4
y = bottleneck_conv(hp, inputs, 16, 3, name="conv1", widths=[4])
facts["bottleneck_conv"] = [layer.name for layer in keras.Model(inputs, y).layers[1:]]

from bottleneck_search import load_dataset

tiny_space = SearchSpace.from_yaml(tiny)
data = load_dataset("digits", (8, 8, 1), batch_size=64)

import numpy as np
from bottleneck_search import Supernet

keras.utils.set_random_seed(0)
supernet = Supernet(tiny_space, seed=0)
supernet.model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
supernet.model.fit(data.train, epochs=5, verbose=0)
chosen = tiny_space.validate({"body1": 4})
images = next(iter(data.val))[0]
supernet.set_architecture(chosen)
numpy = keras.ops.convert_to_numpy
gap = np.abs(numpy(supernet.model(images)) - numpy(supernet.subnet(chosen)(images)))
scored = supernet.evaluate(chosen, data.val, list(data.train.take(2)))
facts["supernet"] = [float(gap.max()), scored.accuracy]

from bottleneck_search import Proposer, SearchConfig, SearchConfigError

try:
    SearchConfig(proposer=Proposer(strategy="mirrored"))
    facts["mirrored"] = "accepted"
except SearchConfigError as error:
    facts["mirrored"] = [error.argument, f"uses the {backend} backend" in str(error)]

# No confirmation stage: its retraining is the same training code the trials ran (and on JAX
# every new model compiles, which made it the longest part of this test).
facts["search"] = main(["search", "--space", tiny, "--max-trials", "2", "--epochs", "1",
                        "--run-dir", f"{work}/run", "--seed", "2", "--confirm", "0"])
facts["export"] = main(["export", f"{work}/run"])
json.dump(facts, open(f"{work}/facts.json", "w"))
"""


def check_the_core_on(backend, tiny_space_path, tmp_path):
    """Runs SCRIPT with `backend` in a fresh process and checks every fact it gathered."""
    environment = {"KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            backend,
            tiny_space_path,
            str(SPACES / "inception_mini.yaml"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **environment},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    facts = json.loads((tmp_path / "facts.json").read_text())
    assert facts["macs"] == [112_896_000, 5_268_480]
    assert facts["traced"] == 2 * 6 * 4 * 4 + 6 * 4 + 6 * 4  # the Dense, gelu, the add
    assert facts["yaml_reference"][0] == facts["yaml_reference"][1]  # closed form == counter
    assert facts["model"][0] == facts["model"][1]
    assert facts["bottleneck_conv"] == ["conv1_reduce", "conv1"]
    assert facts["mirrored"] == ["strategy", True]  # refused, naming the argument and backend
    # Chance is 0.1; seeds 0-2 scored 0.44-0.65 on each backend.
    assert facts["supernet"][0] < 1e-5 and facts["supernet"][1] > 0.3
    assert facts["search"] == 0 and facts["export"] == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["backend"] == backend
    records = [
        json.loads(line) for line in (tmp_path / "run" / "trials.jsonl").read_text().splitlines()
    ]
    assert len(records) == 2 and all(r["val_accuracy"] > 0.1 for r in records)  # above chance
    (folder,) = [p for p in (tmp_path / "run" / "export").iterdir() if p.is_dir()]
    assert (folder / "model.keras").is_file() and (folder / "architecture.json").is_file()
    assert (folder / "saved_model").is_dir() == (backend == "jax")
    if backend != "torch":
        return
    assert "no saved_model/ written" in run.stderr and "--backend tensorflow" in run.stderr

    # Once (on PyTorch): a run is resumed with the backend it was trained with, or refused.
    other = subprocess.run(
        [
            sys.executable,
            "-m",
            "bottleneck_search.cli",
            "--backend",
            "tensorflow",
            "search",
            "--space",
            tiny_space_path,
            "--max-trials",
            "2",
            "--epochs",
            "1",
            "--seed",
            "2",
            "--run-dir",
            str(tmp_path / "run"),
            "--resume",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert other.returncode == 2
    assert other.stderr.strip().splitlines() == [
        f"bottleneck-search search: error: Run '{tmp_path / 'run'}' was trained with the {backend} "
        f"backend, and this process uses tensorflow; its checkpoints and tuner state belong to "
        f"{backend}. Resume with KERAS_BACKEND={backend} (the CLI's --backend {backend})."
    ]
