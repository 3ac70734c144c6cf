"""Results of a run directory: the Pareto front, the report, the export and the summary a
finished search prints. Reads runs through `bottleneck_search.rundir`; never imports `search`."""
