"""`Part`: what every part of a job shares, Keras' `get_config` / `from_config`."""

from __future__ import annotations

import dataclasses
from typing import Any

from bottleneck_search.errors import SearchConfigError


class Part:
    """Base of the frozen dataclasses a job is made of (`SearchConfig`, `CompressConfig`).

    Example:

    ```python
    proposer = Proposer(tuner="bayesian", max_trials=8)
    assert Proposer.from_config(proposer.get_config()) == proposer
    ```
    """

    def get_config(self) -> dict[str, Any]:
        """The part's arguments by name (JSON where its values are: a `keras.Model` given as
        `SpaceSource.model`, or arrays as `DataSource.dataset`, are returned as they are)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        """The part `get_config` returned the arguments of.

        Raises:
            SearchConfigError: `config` names an argument the part does not have.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise SearchConfigError(
                f"{cls.__name__} has no argument {', '.join(unknown)}; it takes "
                f"{', '.join(sorted(known))}. Received: {config!r}.",
                argument=unknown[0],
            )
        return cls(**config)
