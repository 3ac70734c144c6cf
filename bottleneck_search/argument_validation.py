"""The checks of a single argument, one small function per kind of value.

Every argument of the package's public objects (`SearchConfig`, `CompressConfig`, `CostPenalty`,
`TrainingRecipe`, `Task`, ...) is checked by one of these functions, once, where the value
enters: in the constructor or the function that receives it. Messages follow Keras'
`argument_validation`: what was expected, then `Received: name=value`. The error raised carries
the argument's name (`error.argument`), so the CLI can say which flag it came from; a message
raised from Python names the Python argument.

Example:

```python
from bottleneck_search.argument_validation import check_count
assert check_count("epochs", 3) == 3
try:
    check_count("epochs", 0)
except SearchConfigError as error:         # `epochs` must be a positive integer. Received: epochs=0.
    assert error.argument == "epochs"
```
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

from bottleneck_search.errors import BottleneckSearchError, SearchConfigError


def is_count(value: object, least: int = 1) -> bool:
    """Whether `value` is an integer of at least `least` (`True` and `False` are not counts)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least


def _refuse(
    name: str, value: object, expected: str, error: type[BottleneckSearchError], hint: str
) -> BottleneckSearchError:
    hint = f" {hint}" if hint else ""
    return error(f"`{name}` must be {expected}.{hint} Received: {name}={value!r}.", argument=name)


def _count_words(least: int, most: int | None) -> str:
    if most is not None:
        return f"an integer from {least} to {most}"
    if least == 1:
        return "a positive integer"
    if least == 0:
        return "0 or a positive integer"
    return f"an integer of at least {least}"


def check_count(
    name: str,
    value: object,
    *,
    least: int = 1,
    most: int | None = None,
    unit: str = "",
    hint: str = "",
    error: type[BottleneckSearchError] = SearchConfigError,
) -> int:
    """Checks that `value` is an integer from `least` to `most` (booleans are not integers).

    Args:
        name: the argument's name, as its caller spells it.
        value: the value received.
        least: the smallest value accepted.
        most: the largest value accepted; None for no bound.
        unit: what the integer counts (`"MiB"`), said in the message.
        hint: a sentence added to the message (what the value means, how to fix it).
        error: the exception type raised.

    Returns:
        `value`, as a Python `int`.

    Raises:
        error: `value` is not such an integer; the message ends `Received: name=value`.

    Example:

    ```python
    check_count("confirm", 0, least=0)   # -> 0
    ```
    """
    if not is_count(value, least) or (most is not None and value > most):
        words = _count_words(least, most) + (f" ({unit})" if unit else "")
        raise _refuse(name, value, words, error, hint)
    return int(value)


def check_number(
    name: str,
    value: object,
    *,
    above: float | None = 0.0,
    at_least: float | None = None,
    below: float | None = None,
    unit: str = "",
    hint: str = "",
    error: type[BottleneckSearchError] = SearchConfigError,
) -> float:
    """Checks that `value` is a finite real number (not a boolean) within the given bounds.

    Args:
        name: the argument's name, as its caller spells it.
        value: the value received.
        above: `value` must be greater than this (None: no such bound). The default, 0, asks for
            a positive number.
        at_least: `value` must be at least this (None: no such bound).
        below: `value` must be less than this (None: no such bound).
        unit: the number's unit (`"seconds"`), said in the message.
        hint: a sentence added to the message.
        error: the exception type raised.

    Returns:
        `value`, as a Python `float`.

    Raises:
        error: `value` is not such a number; the message ends `Received: name=value`.

    Example:

    ```python
    check_number("trial_timeout", 30, unit="seconds")   # -> 30.0
    check_number("warmup_fraction", 0.1, above=None, at_least=0, below=1)
    ```
    """
    real = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not real or (
        (above is not None and value <= above)
        or (at_least is not None and value < at_least)
        or (below is not None and value >= below)
    ):
        bounds = []
        if above == 0 and at_least is None and below is None:
            words = "a positive number"
        else:
            if above is not None:
                bounds.append(f"above {above:g}")
            if at_least is not None:
                bounds.append(f"at least {at_least:g}")
            if below is not None:
                bounds.append(f"below {below:g}")
            words = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")
        words += f" of {unit}" if unit else ""
        raise _refuse(name, value, words, error, hint)
    return float(value)


def check_choice(
    name: str,
    value: object,
    choices: Iterable[str],
    *,
    hint: str = "",
    error: type[BottleneckSearchError] = SearchConfigError,
) -> str:
    """Checks that `value` is one of `choices`.

    Args:
        name: the argument's name, as its caller spells it.
        value: the value received.
        choices: the accepted values.
        hint: a sentence added to the message.
        error: the exception type raised.

    Returns:
        `value`.

    Raises:
        error: `value` is not one of `choices`; the message lists them and ends
            `Received: name=value`.

    Example:

    ```python
    check_choice("schedule", "cosine", ("cosine", "constant"))   # -> "cosine"
    ```
    """
    choices = tuple(choices)
    if value not in choices:
        raise _refuse(name, value, f"one of {', '.join(map(repr, choices))}", error, hint)
    return value


def check_flag(
    name: str, value: object, *, error: type[BottleneckSearchError] = SearchConfigError
) -> bool:
    """Checks that `value` is `True` or `False` (not a truthy string or number).

    Returns:
        `value`.

    Raises:
        error: `value` is not a boolean.

    Example:

    ```python
    check_flag("warm_start", True)   # -> True
    ```
    """
    if not isinstance(value, bool):
        raise _refuse(name, value, "True or False", error, "")
    return value
