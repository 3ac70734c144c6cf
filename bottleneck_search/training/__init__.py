"""How models learn: the `Task` (loss, metrics, labels, scoring metric) read from a user's model,
the input range it expects, and the one compile-and-fit every training path uses."""

from bottleneck_search.training.task import Task

__all__ = ["Task"]
