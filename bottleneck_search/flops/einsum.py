"""Letter sizes of an einsum equation, the one rule `EinsumDense` and `keras.ops.einsum` share."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from bottleneck_search.flops.registry import Shape


def einsum_letter_sizes(equation: str, shapes: Sequence[Shape]) -> dict[str, int]:
    """`{letter: size}` for every letter (and `...`) in `equation`, given each term's shape.

    The product of the sizes is the multiply-accumulates of the contraction.
    """
    operands = re.split(r",|->", equation.replace(" ", ""))
    sizes: dict[str, int] = {}
    for term, shape in zip(operands, shapes, strict=True):
        if "..." in term:
            head, tail = term.split("...")
            ellipsis = shape[len(head) : len(shape) - len(tail)]
            sizes["..."] = max(sizes.get("...", 1), math.prod(ellipsis))
            tail_shape = shape[len(shape) - len(tail) :]
            named = [
                *zip(head, shape[: len(head)], strict=True),
                *zip(tail, tail_shape, strict=True),
            ]
        else:
            named = list(zip(term, shape, strict=True))
        for letter, size in named:
            sizes[letter] = max(sizes.get(letter, 1), size)
    return sizes
