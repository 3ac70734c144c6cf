"""An oracle served to other processes (a distributed search's workers, a search's trainer
processes): who may call it (`auth`), the servicer that checks every report (`oracle_server`),
the hub through which jobs observe its calls (`oracle_events`), and whether workers are alive
(`liveness`)."""
