"""The run directory of a search: its file names, atomic writes, `config.json` with the search's
arguments, the trial log, and reading a run back. Both `search` (which writes runs) and `results`
(which reads them) build on this layer; it imports neither."""
