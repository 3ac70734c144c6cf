"""`Site`: one convolution where a 1x1 reduction may be inserted, and how its widths are chosen."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence

from bottleneck_search import limits
from bottleneck_search.argument_validation import is_count
from bottleneck_search.errors import SearchSpaceError

DEFAULT_WIDTHS: tuple[float, ...] = (0.25, 0.5)
DEFAULT_ROUND_TO = 8


def is_activation_name(value) -> bool:
    """Whether `value` is the name of a Keras activation (`relu`, `swish`, `linear`, ...)."""
    import keras

    try:
        return isinstance(value, str) and keras.activations.get(value) is not None
    except ValueError:
        return False


@dataclasses.dataclass(frozen=True)
class ReductionOptions:
    """How an inserted 1x1 reduction is made.

    Attributes:
        activation: activation after the reduction (a Keras activation name).
        batch_norm: put a BatchNormalization between the 1x1 conv and its activation.
        use_bias: give the 1x1 conv a bias.

    Example:

    ```python
    rewritten = SearchSpace.from_model(my_model, reduction=ReductionOptions(batch_norm=True))
    ```
    """

    activation: str = "relu"
    batch_norm: bool = False
    use_bias: bool = True


@dataclasses.dataclass(frozen=True)
class Site:
    """A convolution before which a 1x1 reduction may be inserted.

    Attributes:
        name: the site's name, the conv layer's name; inserted layers are `<name>_reduce`.
        kernel_size: the conv's kernel size, one entry per spatial dimension.
        in_channels: channels entering the conv (and the reduction).
        out_channels: the conv's filters.
        input_size: spatial size of the conv's input (the reduction runs at this size).
        output_size: spatial size of the conv's output.
        widths: the reduction widths offered, ascending; each at most `in_channels`.
        reference: the width of the reference architecture (e.g. GoogLeNet's paper width), or None.
        key: for a site of a user's model, where it sits regardless of its name: its position
            among the model's convs in execution order, its class and its shapes (e.g.
            `conv 3 Conv2D 14x14x480->14x14x48`). Auto-generated layer names (`conv2d_225`)
            differ when a model is rebuilt in a new process; the key does not.
        groups: the conv's `groups`: every width offered is a multiple of it (the conv after the
            reduction keeps its channel groups).
        depth_multiplier: for a separable conv, its `depth_multiplier` (the reduction goes before
            its depthwise step); None for a plain conv.
        transposed: whether the conv is a transposed one (its kernel runs over its input: the
            reduction saves at the input's size).

    Example:

    ```python
    site = SearchSpace.from_yaml("search_spaces/googlenet.yaml").sites[0]
    print(site.name, site.in_channels, site.widths)
    ```
    """

    name: str
    kernel_size: tuple[int, ...]
    in_channels: int
    out_channels: int
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    widths: tuple[int, ...]
    reference: int | None = None
    key: str | None = None
    groups: int = 1
    depth_multiplier: int | None = None
    transposed: bool = False

    @property
    def separable(self) -> bool:
        """Whether the site is a separable conv (depthwise, then pointwise)."""
        return self.depth_multiplier is not None

    @property
    def choices(self) -> tuple[int | None, ...]:
        """Every decision at this site: `None` (no reduction) then each width."""
        return (None, *self.widths)


def resolve_widths(
    widths: Sequence[float | int] | None,
    in_channels: int,
    round_to: int = DEFAULT_ROUND_TO,
    where: str = "",
) -> tuple[int, ...]:
    """Turns width specs into absolute channel counts offered at a site.

    An int >= 1 is a channel count. A float in (0, 1] is a fraction of `in_channels`, rounded to
    the nearest multiple of `round_to` (at least `round_to`). Widths above `in_channels` are not
    offered (equal is: GoogLeNet's stem reduces 64 -> 64).

    Args:
        widths: the specs; `DEFAULT_WIDTHS` when None.
        in_channels: channels entering the site.
        round_to: multiple that fractional widths round to; 1 for no rounding.
        where: location for error messages (file:line or layer name).

    Returns:
        Sorted, distinct absolute widths; empty when none fits (then the conv is not a site).

    Example:

    ```python
    assert resolve_widths([0.25, 0.5, 16], in_channels=64) == (16, 32)
    ```
    """
    specs = DEFAULT_WIDTHS if widths is None else widths
    if isinstance(specs, str | bytes) or not isinstance(specs, Sequence):
        raise SearchSpaceError(
            f"{where}widths must be a list, e.g. [0.25, 0.5] or [16, 32]. Received: {specs!r}."
        )
    if not is_count(round_to):
        raise SearchSpaceError(
            f"{where}`round_to` must be a positive integer. Received: round_to={round_to!r}.",
            argument="round_to",
        )
    resolved = set()
    for spec in specs:
        resolved.add(_one_width(spec, in_channels, round_to, where))
    return tuple(sorted(w for w in resolved if w <= in_channels))


def _one_width(spec, in_channels: int, round_to: int, where: str) -> int:
    hint = "Use a channel count (an integer >= 1) or a fraction of the input channels in (0, 1]."
    if isinstance(spec, bool) or not isinstance(spec, numbers.Real) or not math.isfinite(spec):
        raise SearchSpaceError(f"{where}width {spec!r} is not a number. {hint}")
    if spec <= 0:
        raise SearchSpaceError(f"{where}width {spec!r} must be positive. {hint}")
    if isinstance(spec, numbers.Integral):
        if spec > limits.MAX_CHANNELS:
            raise SearchSpaceError(
                f"{where}width {spec} exceeds the limit of {limits.MAX_CHANNELS} channels."
            )
        return int(spec)
    if spec > 1:
        raise SearchSpaceError(f"{where}width {spec!r} is a float above 1. {hint}")
    return max(round_to, round(spec * in_channels / round_to) * round_to)
