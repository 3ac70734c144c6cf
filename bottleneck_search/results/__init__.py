"""Results of a search: the Pareto front (and, later, reports and exports)."""
