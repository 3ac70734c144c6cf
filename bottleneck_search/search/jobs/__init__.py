"""The jobs that run: `run_search` (`search`), the tuner side a config makes (`tuning`), the
one-shot strategy, confirmation, trainer processes (the search's side, `trainer_pool`; the
trainer's, `trainer_process`, and its entry point, `trainer_main`), the distributed roles,
progress lines, why a search stopped, and Keras Tuner's state files."""
