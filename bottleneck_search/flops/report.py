"""`FlopReport`: the result of `count_flops`, with per-call rows, totals and renderings."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from typing import Any, NamedTuple

_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def human(value: float) -> str:
    """Formats a count with a K/M/G/T suffix: `human(112_896_000) == '112.90M'`."""
    for scale, suffix in _UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


class LayerRow(NamedTuple):
    """Cost of one layer call. A layer called twice has two rows; its params are on the first.

    A named tuple rather than a frozen dataclass: one is made per layer call and construction
    speed is most of the counter's own time on large models.

    Attributes:
        name: the layer call (`outer/inner` inside nested models).
        class_name: the layer's class.
        output_shape: the call's output shape, batch included.
        macs, flops: its multiply-accumulates and floating-point operations.
        params, trainable_params: the layer's parameters (on its first call only).
        counted: False for a layer with no counting function, counted as zero (`strict=False`).

    Example:

    ```python
    biggest = max(count_flops(my_model).rows, key=lambda row: row.macs)
    print(biggest.name, biggest.class_name, biggest.macs)
    ```
    """

    name: str
    class_name: str
    output_shape: tuple
    macs: int
    flops: int
    params: int
    trainable_params: int
    counted: bool = True


@dataclasses.dataclass(frozen=True)
class FlopReport:
    """Costs of a Keras model, layer call by layer call.

    Attributes:
        rows: one `LayerRow` per layer call, in execution order; nested models' layers are
            named `outer/inner`.
        batch_size: the batch size the costs are computed for.
        skipped: names of layer calls with no counting function, counted as zero
            (only with `strict=False`).

    Example:

    ```python
    report = count_flops(my_model)
    print(report.macs, report.params)
    print(report.table())                     # one row per layer call, with totals
    ```
    """

    rows: tuple[LayerRow, ...]
    batch_size: int = 1
    skipped: tuple[str, ...] = ()

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def flops(self) -> int:
        return sum(row.flops for row in self.rows)

    @property
    def params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable_params for row in self.rows)

    def by_class(self) -> dict[str, dict[str, int]]:
        """Totals per layer class: `{"Conv2D": {"calls": 3, "macs": ..., "flops": ..., "params": ...}}`."""
        totals: dict[str, dict[str, int]] = defaultdict(
            lambda: {"calls": 0, "macs": 0, "flops": 0, "params": 0}
        )
        for row in self.rows:
            entry = totals[row.class_name]
            entry["calls"] += 1
            entry["macs"] += row.macs
            entry["flops"] += row.flops
            entry["params"] += row.params
        return dict(totals)

    def by_module(self, owner=None) -> dict[str, dict[str, int]]:
        """Totals per module, in the order modules first appear: by default the top-level layer
        or nested model a row belongs to (the part of `outer/inner` before the first `/`, and
        a second call `name#2` with its first); `owner(row_name)` decides instead (e.g. a YAML
        space's blocks).

        Example:

        ```python
        inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)], name="stem")
        inputs = keras.Input((8, 8, 3))
        model = keras.Model(inputs, keras.layers.Flatten(name="flat")(inner(inputs)))
        assert list(count_flops(model).by_module()) == ["stem", "flat"]
        ```
        """
        owner = owner or (lambda name: name.split("/", 1)[0].split("#", 1)[0])
        totals: dict[str, dict[str, int]] = {}
        for row in self.rows:
            entry = totals.setdefault(
                owner(row.name), {"calls": 0, "macs": 0, "flops": 0, "params": 0}
            )
            entry["calls"] += 1
            entry["macs"] += row.macs
            entry["flops"] += row.flops
            entry["params"] += row.params
        return totals

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text with the totals, the rows and the skipped layers."""
        return json.dumps(self._record(), indent=indent)

    def _record(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "macs": self.macs,
            "flops": self.flops,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "layers": [
                {**row._asdict(), "output_shape": _jsonable_shape(row.output_shape)}
                for row in self.rows
            ],
            "skipped": list(self.skipped),
        }

    def table(self) -> str:
        """The rows as aligned text, with exact and human-readable totals."""
        header = ("layer", "class", "output shape", "MACs", "FLOPs", "params")
        lines = [
            (
                row.name + ("" if row.counted else " (skipped)"),
                row.class_name,
                _format_shape(row.output_shape),
                human(row.macs),
                human(row.flops),
                human(row.params),
            )
            for row in self.rows
        ]
        total = (
            "total",
            "",
            f"batch {self.batch_size}",
            human(self.macs),
            human(self.flops),
            human(self.params),
        )
        widths = [max(len(r[i]) for r in [header, *lines, total]) for i in range(len(header))]
        numeric = {3, 4, 5}

        def render(cells):
            return "  ".join(
                cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                for i, cell in enumerate(cells)
            ).rstrip()

        rule = "-" * len(render(header))
        out = [render(header), rule, *(render(line) for line in lines), rule, render(total)]
        out.append(
            f"MACs {self.macs:,}  FLOPs {self.flops:,}  params {self.params:,} "
            f"(trainable {self.trainable_params:,})"
        )
        if self.skipped:
            out.append(f"not counted (no counting function): {', '.join(self.skipped)}")
        return "\n".join(out)


def _format_shape(shape: tuple) -> str:
    if shape and isinstance(shape[0], tuple):
        return ", ".join(_format_shape(s) for s in shape)
    return "x".join(str(d) for d in shape)


def _jsonable_shape(shape: tuple) -> list:
    return [_jsonable_shape(s) if isinstance(s, tuple) else s for s in shape]
