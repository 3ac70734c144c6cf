"""What a trial is: the FLOP-penalised objective, the callbacks that put costs in the epoch logs,
the observer hooks, the hypermodel, which of a trial's exceptions are our bugs, and one
architecture trained outside a tuner."""
