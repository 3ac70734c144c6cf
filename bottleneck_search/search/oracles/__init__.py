"""Who proposes trials: Keras Tuner's stock tuners by name (`make_tuner`), and `EvolutionOracle`
(aging evolution with the package's one Pareto ranking, `ranking`) in a stock tuner."""
