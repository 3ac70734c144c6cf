"""Searching, by role (as Keras Tuner keeps `engine/`, `oracles/` and `tuners/` apart), each
sub-package importing only those listed before it:

- `engine/`: what a trial is (objective, callbacks, observer, hypermodel, failures, training);
- `oracles/`: who proposes trials (the stock tuners, `make_tuner`; `EvolutionOracle`);
- `served/`: an oracle served to other processes (token and TLS, the checked servicer, its
  event hub, worker liveness);
- `jobs/`: the jobs that run (search, one-shot, confirmation, trainer processes, distributed).

The public names are exported by `bottleneck_search` itself; importing this package imports
nothing heavy, so the CLI can read the tuner and penalty tables before TensorFlow loads.
"""
