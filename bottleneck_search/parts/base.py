"""`Part`: what every part of a job shares, Keras' `get_config` / `from_config`."""

from __future__ import annotations

import dataclasses
from typing import Any

from bottleneck_search.errors import BottleneckSearchError, SearchConfigError


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


def check_parts(job, parts: dict[str, type[Part]]) -> None:
    """Refuses a job (`SearchConfig`, `CompressConfig`) whose `parts` attributes are not parts.

    Raises:
        SearchConfigError: naming the attribute and the part it must be.
    """
    for name, part in parts.items():
        if not isinstance(getattr(job, name), part):
            raise SearchConfigError(
                f"`{name}` must be a {part.__name__}. Received: {name}={getattr(job, name)!r}.",
                argument=name,
            )


def parts_from_arguments(
    arguments: dict[str, Any], flat: dict[str, tuple[str, str]], parts: dict[str, type[Part]]
) -> dict[str, Part]:
    """The parts the flat `arguments` (a CLI's flags, `config.json`'s `arguments`) give, each
    made with its defaults for what is not given; `flat` maps a flat name to `(part, argument)`.

    Raises:
        BottleneckSearchError: a part's own, its `argument` the flat name (`latency_batch_size`,
            not `batch_size`), so the CLI names the flag.
    """
    grouped: dict[str, dict[str, Any]] = {name: {} for name in parts}
    for key, value in arguments.items():
        if key in flat:
            part, name = flat[key]
            grouped[part][name] = value
    made = {}
    for part, values in grouped.items():
        try:
            made[part] = parts[part](**values)
        except BottleneckSearchError as error:
            place = (part, error.argument)
            error.argument = next((k for k, p in flat.items() if p == place), error.argument)
            raise
    return made


def flat_arguments(job, flat: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The flat arguments `job`'s parts hold (the reverse of `parts_from_arguments`)."""
    return {key: getattr(getattr(job, part), name) for key, (part, name) in flat.items()}
