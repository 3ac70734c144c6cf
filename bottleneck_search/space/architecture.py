"""`Architecture`: one decision per site, with a JSON form a person can read and edit."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from bottleneck_search import limits
from bottleneck_search.errors import SearchSpaceError

FORMAT = "bottleneck-search/architecture"
# What a site name read from a file may be: a Keras layer name, never a path or markup.
# The cost fields an architecture's JSON carries when known.
COSTS = ("macs", "flops", "params", "latency_us")
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$")


def short_form(widths: Mapping[str, int | None]) -> str:
    """`{site: width or None}` on one line: `3a_3x3:96 3a_5x5:- ...` (`-` is no reduction)."""
    return " ".join(f"{name}:{'-' if width is None else width}" for name, width in widths.items())


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The decision at every site of a space: no reduction (`None`) or a reduction width.

    Two architectures are equal when their decisions are; the cost fields are informative.

    Attributes:
        decisions: `(site name, width or None)` pairs in the space's site order.
        macs: MACs of the built model at batch 1, when known.
        flops: FLOPs at batch 1, when known.
        params: parameter count, when known.
        latency_us: predicted microseconds per inference call, when the space has a latency
            table (`SearchSpace.with_latency`).

    Example:

    ```python
    arch = Architecture.from_widths({"3a_3x3": 96, "3a_5x5": None})
    assert Architecture.from_json(arch.to_json()) == arch
    ```
    """

    decisions: tuple[tuple[str, int | None], ...]
    macs: int | None = dataclasses.field(default=None, compare=False)
    flops: int | None = dataclasses.field(default=None, compare=False)
    params: int | None = dataclasses.field(default=None, compare=False)
    latency_us: float | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def from_widths(cls, widths: Mapping[str, int | None], **costs: float | None) -> Architecture:
        """Builds an architecture from `{site: width or None}`."""
        return cls(decisions=tuple(widths.items()), **costs)

    @property
    def widths(self) -> dict[str, int | None]:
        """`{site: width or None}`."""
        return dict(self.decisions)

    @property
    def reduced(self) -> int:
        """Number of sites with a reduction."""
        return sum(width is not None for _, width in self.decisions)

    def short(self) -> str:
        """A compact one-line form: `3a_3x3:96 3a_5x5:- ...` (`-` is no reduction)."""
        return short_form(self.widths)

    def get_config(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": FORMAT, "version": 1, "sites": self.widths}
        for key in COSTS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text: `{"sites": {"3a_3x3": 96, "3a_5x5": null}, "macs": ..., ...}`."""
        return json.dumps(self.get_config(), indent=indent)

    @classmethod
    def from_config(cls, data: Any, source: str = "architecture") -> Architecture:
        """An architecture from any of the forms a user may paste.

        Accepted: the exported form `{"sites": {site: width or null}, ...}` (`get_config`, an
        export's `architecture.json`), a line of `trials.jsonl` (`{"architecture": {...}, ...}`),
        or the bare mapping `{site: width or null}`. Costs (`macs`, `flops`, `params`) are kept
        when present.

        Raises:
            SearchSpaceError: none of those forms, a site name that is not a layer name, or a
                width that is not an integer from 1 to 16384 or null.
        """
        sites = _sites_of(data)
        if sites is None:
            raise SearchSpaceError(
                f"{source}: expected an object with a 'sites' mapping of site name to width or "
                'null, e.g. {"sites": {"3a_3x3": 96, "3a_5x5": null}} (a trials.jsonl line, or the '
                "bare mapping, works too)."
            )
        decisions = []
        for name, width in sites.items():
            if not isinstance(name, str) or not SITE_NAME.match(name):
                raise SearchSpaceError(
                    f"{source}: site name {str(name)[:80]!r} is not a layer name (1-255 letters, digits and "
                    "'_.:-', starting with a letter or digit); site names become layer names."
                )
            if width is not None and (
                isinstance(width, bool)
                or not isinstance(width, int)
                or not 1 <= width <= limits.MAX_CHANNELS
            ):
                raise SearchSpaceError(
                    f"{source}: site '{name}' has width {width!r}; expected an integer from 1 to "
                    f"{limits.MAX_CHANNELS}, or null."
                )
            decisions.append((name, width))
        costs = {k: data[k] for k in ("macs", "flops", "params") if isinstance(data.get(k), int)}
        if isinstance(data.get("latency_us"), int | float) and not isinstance(
            data["latency_us"], bool
        ):
            costs["latency_us"] = float(data["latency_us"])
        return cls(decisions=tuple(decisions), **costs)

    @classmethod
    def from_json(cls, text: str, source: str = "architecture JSON") -> Architecture:
        """Parses JSON text in any form `from_config` accepts (extra keys such as metrics are ignored)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SearchSpaceError(f"{source} is not valid JSON: {error}.") from error
        return cls.from_config(data, source=source)


def _sites_of(data: Any) -> Mapping | None:
    """The `{site: width}` mapping of an exported architecture, a trial record, or a bare mapping."""
    if not isinstance(data, Mapping):
        return None
    for key in ("sites", "architecture"):
        if isinstance(data.get(key), Mapping):
            return data[key]
    bare = all(isinstance(v, int | None) and not isinstance(v, bool) for v in data.values())
    return data if bare else None
