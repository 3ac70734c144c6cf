"""Who proposes trials beyond Keras Tuner's own oracles: `EvolutionOracle` (aging evolution with
the package's one Pareto ranking, `ranking`)."""
