"""Search jobs: the FLOP-penalised objective, the hypermodel and its callbacks, stock tuners,
and `run_search`, the job behind `bottleneck-search search`.

The public names are exported by `bottleneck_search` itself; importing this package imports
nothing heavy, so the CLI can read the tuner and penalty tables before TensorFlow loads.
"""
