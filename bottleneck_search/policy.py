"""Search policy: the tables and defaults that decide what a search does (tuners, strategies,
one-shot evaluations, trainer processes). Read by the search's configuration (`rundir.config`),
by the search itself and by the CLI for its choices and defaults."""

DEFAULT_SPACE = "inception_mini"
# `--tuner` names and the stock Keras Tuner class each one runs.
TUNERS = {
    "random": "RandomSearch",
    "bayesian": "BayesianOptimization",
    "hyperband": "Hyperband",
    "grid": "GridSearch",
    "evolution": "EvolutionOracle",  # ours (search.oracles.evolution), in a stock keras_tuner.Tuner
}
# `--strategy` names: how architectures are scored. The default (None) trains each trial on its own.
STRATEGIES = {
    "mirrored": "each trial trained with tf.distribute.MirroredStrategy on all of a machine's GPUs",
    "oneshot": "one weight-sharing supernet trained, then architectures scored with its weights",
}
# `--evaluate`: a one-shot search evaluates every architecture of a space of at most this many,
# else this many chosen by evolution. An evaluation takes about 0.5 s on inception_mini (2 cores).
ONESHOT_EVALUATIONS = 1000
# Trials a trainer process runs before a fresh one replaces it, unless told otherwise. A
# TensorFlow process keeps about 35 MiB of every model it has fitted (inception_mini), so 20
# trials add at most about 0.7 GiB to a trainer; a new one starts in about 5 s, 2% of 20 default
# trials (bench/long_search.py). Searches of at most this many trials train in their own process.
TRIALS_PER_TRAINER = 20
# `--penalty`: how a cost penalises accuracy (`CostPenalty`).
MODES = ("soft", "hard", "linear")
# `--cost`: what a search weighs accuracy against: MACs (closed form), or the latency the
# space's latency table predicts (`bottleneck_search.latency`).
COSTS = ("macs", "latency")
# `--runtime` / `--latency-runtime`: what a latency is measured in (`latency.measure`).
RUNTIMES = ("keras", "onnxruntime")
# Calls a latency measurement times, after its warm-up calls (`latency.measure`).
LATENCY_REPEATS = 20
