"""The registry that maps layer classes to counting functions.

A counting function takes `(layer, input_shapes, output_shapes)`, where every shape is a tuple of
ints with the batch dimension already filled in, and returns a `Cost`. Lookup walks the layer's
class hierarchy, so a subclass of `keras.layers.Conv2D` is counted as a `Conv2D` unless a more
specific function is registered for it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

Shape = tuple[int, ...]
CountingFunction = Callable[[object, Sequence[Shape], Sequence[Shape]], "Cost"]

_COUNTERS: dict[type, CountingFunction] = {}
# Classes named "module.QualName", for libraries the counter should not have to import.
_COUNTERS_BY_NAME: dict[str, CountingFunction] = {}


@dataclasses.dataclass(frozen=True)
class Cost:
    """Cost of one layer call.

    Attributes:
        macs: multiply-accumulates of convolutions and matrix products.
        flops: all floating-point operations: `2 * macs` plus elementwise work.

    Example:

    ```python
    def count_scale(layer, input_shapes, output_shapes):   # a counting function returns one
        return Cost(flops=math.prod(output_shapes[0]))

    assert count_scale(None, [(1, 4)], [(1, 4)]) == Cost(macs=0, flops=4)
    ```
    """

    macs: int = 0
    flops: int = 0


def register_counter(
    *layer_classes: type | str,
) -> Callable[[CountingFunction], CountingFunction]:
    """Registers a counting function for one or more layer classes.

    Args:
        *layer_classes: the classes (usually `keras.layers.Layer` subclasses) the function counts,
            or their full names `"package.module.ClassName"`, which count the class without
            importing its package.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Example:

    ```python
    class MyScale(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    @register_counter(MyScale)
    def count_my_scale(layer, input_shapes, output_shapes):
        return Cost(macs=0, flops=math.prod(output_shapes[0]))   # one multiply per element
    ```
    """
    if not layer_classes:
        raise TypeError(
            "register_counter() needs at least one layer class, e.g. @register_counter(MyLayer)."
        )
    for cls in layer_classes:
        if isinstance(cls, str) and "." not in cls.strip("."):
            raise TypeError(
                f"register_counter() takes a class or its full name 'package.module.ClassName'. "
                f"Received: {cls!r}, which names no module."
            )
        if not isinstance(cls, type | str):
            raise TypeError(
                f"register_counter() takes classes, not instances. Received: {cls!r}. "
                "Pass the layer class, e.g. @register_counter(MyLayer)."
            )

    def decorator(function: CountingFunction) -> CountingFunction:
        for cls in layer_classes:
            if isinstance(cls, str):
                _COUNTERS_BY_NAME[cls] = function
            else:
                _COUNTERS[cls] = function
        return function

    return decorator


def unregister_counter(*layer_classes: type | str) -> None:
    """Removes the counting functions registered for `layer_classes` (classes or full names), so
    they are counted by their base class's function, or traced, again.

    Raises:
        KeyError: one of them has no registered function.

    Example:

    ```python
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    register_counter(Doubling)(per_output_element(1))
    unregister_counter(Doubling)
    ```
    """
    for cls in layer_classes:
        table = _COUNTERS_BY_NAME if isinstance(cls, str) else _COUNTERS
        if cls not in table:
            raise KeyError(f"No counting function is registered for {cls!r}.")
        del table[cls]


def per_output_element(flops: int) -> CountingFunction:
    """A counting function of `flops` FLOPs per output element and no MACs (activations,
    normalisations, scales): the rule of most elementwise layers.

    Args:
        flops: FLOPs per element of the layer's first output.

    Returns:
        A counting function for `register_counter` or `count_flops(counters=...)`.

    Example:

    ```python
    count_scale = per_output_element(2)   # a multiply and an add per element
    assert count_scale(None, [(1, 4)], [(1, 4)]) == Cost(flops=8)
    ```
    """

    def count(layer, input_shapes, output_shapes) -> Cost:
        return Cost(flops=flops * math.prod(output_shapes[0]))

    count.__doc__ = f"{flops} FLOP(s) per output element."
    return count


def counter_for(
    layer_class: type, scoped: Mapping[type | str, CountingFunction] | None = None
) -> CountingFunction | None:
    """Returns the counting function for `layer_class` or its nearest base class: one of
    `scoped` (`count_flops(..., counters=...)`) first, then the registered ones."""
    for cls in layer_class.__mro__:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if scoped:
            function = scoped.get(cls) or scoped.get(name)
            if function is not None:
                return function
        function = _COUNTERS.get(cls)
        if function is None and _COUNTERS_BY_NAME:
            function = _COUNTERS_BY_NAME.get(name)
        if function is not None:
            return function
    return None
