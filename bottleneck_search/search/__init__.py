"""Searching, by role (as Keras Tuner keeps `engine/`, `oracles/` and `tuners/` apart):

- `engine/`: what a trial is (objective, callbacks, observer, hypermodel, training, tuners);
- `oracles/`: who proposes trials (`EvolutionOracle`);
- `jobs/`: the jobs that run (search, one-shot, confirmation, trainer processes, distributed).

The public names are exported by `bottleneck_search` itself; importing this package imports
nothing heavy, so the CLI can read the tuner and penalty tables before TensorFlow loads.
"""
