"""What a trial is: the FLOP-penalised objective, the callbacks that put costs in the epoch logs,
the observer hooks, the hypermodel, one architecture trained outside a tuner, and the table of
stock tuners (`make_tuner`)."""
