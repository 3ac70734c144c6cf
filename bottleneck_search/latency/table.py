"""`LatencyTable`: measured latency of a space's architectures in closed form, like `space.macs`.

A table holds the latency of the network without reductions (the base) and, for every site and
width, the change in latency when only that site is reduced, measured in the whole network (so
what fusion, memory traffic and the added layer do is inside the measurement). The predicted
latency of any architecture is a sum of per-site entries, in microseconds:

    base + sum over its reduced sites of entry(site, width)
    entry = trend + shrink * (change - trend),   trend = us_per_mac * macs_change + per_reduction

`trend` is the line through every timing of the build (each entry, and `fit` whole
architectures with several reductions): microseconds per MAC saved (held at zero or above) and
the cost of one more layer, two numbers fitted by least squares on this machine (`fit_trend`).
A third term, per element of the tensor a reduction adds (memory traffic MACs do not count),
was tried and left out: on googlenet at batch 1 it fitted 22 ms per million elements and
predicted 40 unseen architectures worse than the two terms on the same timings (RMSPE 15.7%
against 11.9%), and on VGG16 it fitted zero. A measured change is the trend plus
what is particular to that site (its resolution, its memory traffic) plus timing noise; `shrink`
keeps the particular part in the proportion the timings can resolve it: 1 - (noise variance /
variance of the changes around the trend), clipped to [0, 1], the noise variance being twice
that of the base's timings over the build (a change is a difference of two such medians; this
counts the machine's drift as noise too, which measured better on unseen architectures than the
calls' own spread, see `build_latency_table`). Where the timings
resolve every site (a quiet machine, a network large enough) the entries are the measured
changes (shrink near 1); where single-site changes drown in noise (this 2-core VM at batch 1,
where the base's timings spread +-10%) they fall back to the fitted MAC-and-layer trend.
`validate_table` measures how good the prediction is on architectures neither step used (RMSPE,
and the share predicted within +-10%); a table keeps its validation.

Building: each entry's model is timed side by side with the base, in alternating blocks of
calls (`measure.time_pairs`), and its change is the difference of their medians; a drift of the
machine's speed (clocks, other processes) slower than one block pair cancels. The base's
latency is the median of its timings beside every entry, and their spread is the machine's
variance over the build, kept with the table (`base_spread`).
"""

from __future__ import annotations

import dataclasses
import gc
import math
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from bottleneck_search.errors import LatencyError
from bottleneck_search.latency.measure import (
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    PAIR_BLOCK,
    check_settings,
    device_name,
    inference_call,
    random_batch,
    set_threads,
    time_calls,
    time_pairs,
)

if TYPE_CHECKING:
    from bottleneck_search.space.architecture import Architecture
    from bottleneck_search.space.search_space import SearchSpace

FORMAT = "bottleneck-search/latency-table"
# Version 3 fits the trend with its MAC term held at zero or above (`fit_trend`); the format is
# version 1's, and a version 1 table reads as it was. Version 2, an element term in the trend,
# was tried and left out (docs/latency.md). The cache key holds the version, so a cached table
# fitted another way is measured again.
VERSION = 3


@dataclasses.dataclass(frozen=True)
class LatencyTable:
    """Per-site latency changes of a space, and the closed form that sums them.

    Attributes:
        space: the space's name.
        settings: how it was measured: `batch_size`, `runtime`, `threads`, `repeats`,
            `backend`, `device` (and the machine key, see `latency.cache`).
        base_us: the base network's latency (the median of its timings).
        changes: `{site: {width: measured change in microseconds}}` (a width as a string key,
            as JSON has).
        macs_changes: `{site: {width: change in MACs}}`, from the space's closed form.
        us_per_mac, per_reduction_us, shrink: the trend and how much of each site's own part is
            kept (0, 0, 1: the plain sum of the measured changes).
        fitted: the whole architectures timed for the trend (never validated on), with
            `fit_points`: `(change in MACs, reductions, measured change in microseconds)` each.
        base_timings_us: every timing of the base, in order.
        timed_calls: forward passes timed or warmed up while building (validation excluded).
        seconds: wall time of the build (builds and compiles included).
        validation: what `validate_table` measured, or None.

    Example:

    ```python
    table = build_latency_table(space, batch_size=1, repeats=3, fit=2)
    table.predict_us(space.sample(0))   # microseconds, in closed form
    ```
    """

    space: str
    settings: dict[str, Any]
    base_us: float
    changes: dict[str, dict[str, float]]
    base_timings_us: tuple[float, ...]
    timed_calls: int
    seconds: float
    macs_changes: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    us_per_mac: float = 0.0
    per_reduction_us: float = 0.0
    shrink: float = 1.0
    fitted: tuple[dict[str, int | None], ...] = ()
    fit_points: tuple[tuple[float, int, float], ...] = ()
    validation: dict[str, Any] | None = None

    @property
    def base_spread(self) -> float:
        """The base timings' standard deviation over their mean: the machine's variance over
        the build."""
        timings = self.base_timings_us
        return statistics.stdev(timings) / statistics.mean(timings) if len(timings) > 1 else 0.0

    def change_us(self, site: str, width: int | None) -> float:
        """The table's entry for reducing `site` to `width` (0 for no reduction): the trend,
        plus `shrink` times the measured change's departure from it."""
        if width is None:
            return 0.0
        try:
            measured = self.changes[site][str(width)]
            macs_change = self.macs_changes.get(site, {}).get(str(width), 0)
            trend = _trend_us(self.us_per_mac, self.per_reduction_us, macs_change)
            return trend + self.shrink * (measured - trend)
        except KeyError:
            raise LatencyError(
                f"The latency table of '{self.space}' has no entry for site '{site}' at width "
                f"{width}; it was built for another space. Rebuild it for this one."
            ) from None

    def missing_entries(self, space: SearchSpace) -> list[str]:
        """`site:width` of every choice of `space` this table has no entry for."""
        return [
            f"{site.name}:{width}"
            for site in space.sites
            for width in site.widths
            if str(width) not in self.changes.get(site.name, {})
        ]

    def predict_us(self, architecture: Architecture | Mapping[str, int | None]) -> float:
        """Predicted microseconds per call of `architecture` (`{site: width or None}` or an
        `Architecture`): the base plus the change of every reduced site."""
        widths = getattr(architecture, "widths", architecture)
        return self.base_us + sum(self.change_us(site, w) for site, w in widths.items())

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "latency table") -> LatencyTable:
        """A table from `to_dict()`'s form.

        Raises:
            LatencyError: not a latency table, or a value of the wrong kind.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LatencyError(f"{source} is not a bottleneck-search latency table.")
        try:
            changes = {
                str(site): {str(w): _number(v) for w, v in widths.items()}
                for site, widths in data["changes"].items()
            }
            table = cls(
                space=str(data["space"]),
                settings=dict(data["settings"]),
                base_us=_number(data["base_us"]),
                changes=changes,
                base_timings_us=tuple(_number(t) for t in data["base_timings_us"]),
                timed_calls=int(data["timed_calls"]),
                seconds=_number(data["seconds"]),
                macs_changes={
                    str(site): {str(w): int(v) for w, v in widths.items()}
                    for site, widths in data.get("macs_changes", {}).items()
                },
                us_per_mac=_number(data.get("us_per_mac", 0.0)),
                per_reduction_us=_number(data.get("per_reduction_us", 0.0)),
                shrink=_number(data.get("shrink", 1.0)),
                fitted=tuple(dict(widths) for widths in data.get("fitted", ())),
                fit_points=tuple(
                    (_number(macs), int(reductions), _number(change))
                    for macs, reductions, change in data.get("fit_points", ())
                ),
                validation=data.get("validation"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise LatencyError(f"{source} is damaged ({type(error).__name__}: {error}).") from error
        return table

    def describe(self) -> str:
        """A few lines: the base, the entries, the build's cost and the validation."""
        settings = self.settings
        lines = [
            f"latency table of '{self.space}': batch {settings['batch_size']}, "
            f"{settings['runtime']} ({settings['backend']}), threads "
            f"{settings['threads'] or 'default'}, {settings['device']}",
            f"base {self.base_us / 1000:.3f} ms (spread {100 * self.base_spread:.1f}% over "
            f"{len(self.base_timings_us)} timings); "
            f"{sum(len(w) for w in self.changes.values())} entries over {len(self.changes)} sites; "
            f"built in {self.seconds:.0f} s ({self.timed_calls} calls); trend "
            f"{_describe_trend(self.us_per_mac, self.per_reduction_us)}, shrink {self.shrink:.2f}",
        ]
        if self.validation:
            v = self.validation
            lines.append(
                f"validated on {v['architectures']} architectures it was not built from: RMSPE "
                f"{100 * v['rmspe']:.1f}%, {100 * v['within']:.0f}% within "
                f"+-{100 * v['tolerance']:.0f}% (against the base timed beside each: RMSPE "
                f"{100 * v['rmspe_paired']:.1f}%, {100 * v['within_paired']:.0f}% within)"
            )
        return "\n".join(lines)


def _trend_us(us_per_mac: float, per_reduction_us: float, macs_change: float) -> float:
    """The fitted trend's change for one reduction that changes the MACs by `macs_change`."""
    return us_per_mac * macs_change + per_reduction_us


def _describe_trend(us_per_mac: float, per_reduction_us: float) -> str:
    """`6.849 ms per GMAC -0.539 ms per reduction`."""
    return f"{us_per_mac * 1e6:.3f} ms per GMAC {per_reduction_us / 1000:+.3f} ms per reduction"


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def build_latency_table(
    space: SearchSpace,
    batch_size: int = 1,
    runtime: str = "keras",
    threads: int | None = None,
    repeats: int = DEFAULT_REPEATS,
    fit: int = 6,
    seed: int = 0,
    on_progress: Callable[[str], None] | None = None,
) -> LatencyTable:
    """Measures the base and every `(site, width)` of `space` (see the module docstring).

    Args:
        space: the space.
        batch_size, runtime, threads: as for `measure_latency`.
        repeats: calls of each model timed per entry.
        fit: random architectures (two reductions or more) timed whole, for the trend with the
            entries (see the module docstring).
        seed: the draw of those architectures (`validate_table` draws with another seed).
        on_progress: called with a line after each site.

    Returns:
        The table, without validation (see `validate_table`).
    """
    check_settings(batch_size, runtime, threads, repeats)
    set_threads(threads, runtime)
    started = time.monotonic()
    bench = Bench(space, batch_size, runtime, threads, repeats)
    changes: dict[str, dict[str, float]] = {}
    for number, site in enumerate(space.sites, start=1):
        changes[site.name] = {}
        for width in site.widths:
            base, reduced = bench.beside_base({site.name: width})
            changes[site.name][str(width)] = reduced - base
        if on_progress is not None:
            shown = ", ".join(f"{w}: {c / 1000:+.3f}" for w, c in changes[site.name].items())
            on_progress(f"latency table: site {number}/{len(space.sites)} {site.name} ({shown} ms)")
    base_macs = space.no_bottleneck().macs
    macs_changes = {
        site.name: {str(w): space.macs({site.name: w}) - base_macs for w in site.widths}
        for site in space.sites
    }
    fitted = unseen_architectures(space, fit, seed)
    fit_points = []
    for architecture in fitted:
        base, reduced = bench.beside_base(architecture.widths)
        fit_points.append((architecture.macs - base_macs, architecture.reduced, reduced - base))
    points = [
        (macs_changes[site][w], 1, change)
        for site, widths in changes.items()
        for w, change in widths.items()
    ] + fit_points
    us_per_mac, per_reduction = fit_trend(points)
    departures = [
        change - _trend_us(us_per_mac, per_reduction, macs_changes[site][w])
        for site, widths in changes.items()
        for w, change in widths.items()
    ]
    # Noise: twice the variance of the base's timings beside the entries (a change is a
    # difference of two such medians). The variance of each median from its calls' own spread
    # reads lower and let noise in: on googlenet at batch 1 it gave shrink 0.20 and RMSPE 16.9%
    # on 40 unseen architectures, against 0.00 and 11.3% with this (bench/results/latency_*).
    noise = 2 * statistics.variance(bench.base_timings) if len(bench.base_timings) > 1 else 0.0
    spread = statistics.mean(d * d for d in departures) if departures else 0.0
    shrink = min(1.0, max(0.0, 1 - noise / spread)) if spread > 0 else 1.0
    if on_progress is not None:
        on_progress(
            f"latency table: trend {_describe_trend(us_per_mac, per_reduction)} over "
            f"{len(points)} timings; shrink {shrink:.2f} (noise "
            f"{noise**0.5 / 1000:.3f} ms, departures {spread**0.5 / 1000:.3f} ms)"
        )
    return LatencyTable(
        space=space.name,
        settings=measure_settings(batch_size, runtime, threads, repeats),
        base_us=statistics.median(bench.base_timings),
        changes=changes,
        base_timings_us=tuple(bench.base_timings),
        timed_calls=bench.calls,
        seconds=round(time.monotonic() - started, 3),
        macs_changes=macs_changes,
        us_per_mac=us_per_mac,
        per_reduction_us=per_reduction,
        shrink=shrink,
        fitted=tuple(a.widths for a in fitted),
        fit_points=tuple(fit_points),
    )


class Bench:
    """Times architectures of a space side by side with its base network (`time_pairs`)."""

    def __init__(self, space, batch_size: int, runtime: str, threads: int | None, repeats: int):
        self.space, self.runtime, self.threads, self.repeats = space, runtime, threads, repeats
        base_model = space.build(space.no_bottleneck())
        self.batch = random_batch(base_model, batch_size)
        self.base_call = inference_call(base_model, self.batch, runtime, threads)
        time_calls(self.base_call, repeats, DEFAULT_WARMUP)  # warms the process up too
        self.calls = repeats + DEFAULT_WARMUP
        self.base_timings: list[float] = []

    def beside_base(self, widths: Mapping[str, int | None]) -> tuple[float, float]:
        """Median microseconds of the base and of the architecture, timed side by side."""
        model = self.space.build(widths)
        call = inference_call(model, self.batch, self.runtime, self.threads)
        base, reduced = time_pairs(self.base_call, call, self.repeats, DEFAULT_WARMUP)
        del model, call
        gc.collect()
        self.calls += 2 * (self.repeats + DEFAULT_WARMUP + -(-self.repeats // PAIR_BLOCK))
        self.base_timings.append(statistics.median(base) * 1e6)
        return self.base_timings[-1], statistics.median(reduced) * 1e6


def fit_trend(points: Sequence[tuple[float, int, float]]) -> tuple[float, float]:
    """`(us_per_mac, per_reduction)` minimising the squared error of `us_per_mac * M +
    per_reduction * n` against the measured change `D`, for points `(M, n, D)` (M: the change
    in MACs, n: the reductions), with `us_per_mac` held at zero or above: a saved MAC never
    makes a call slower, and timings too noisy to show the slope (googlenet at batch 32 on this
    CPU fitted -403 ms per GMAC unbounded) fall back to the per-reduction term alone.
    `(0, 0)` when the points cannot decide even that."""
    mm = sum(m * m for m, _, _ in points)
    mn = sum(m * n for m, n, _ in points)
    nn = sum(n * n for _, n, _ in points)
    md = sum(m * d for m, _, d in points)
    nd = sum(n * d for _, n, d in points)
    determinant = mm * nn - mn * mn
    if len(points) >= 2 and abs(determinant) > 1e-9 * mm * nn:
        us_per_mac = (md * nn - nd * mn) / determinant
        if us_per_mac >= 0:
            return us_per_mac, (mm * nd - mn * md) / determinant
    return 0.0, (nd / nn if nn > 0 else 0.0)


def measure_settings(batch_size: int, runtime: str, threads: int | None, repeats: int) -> dict:
    """The settings a table records: what was asked and what ran it."""
    import keras

    return {
        "batch_size": batch_size,
        "runtime": runtime,
        "threads": threads,
        "repeats": repeats,
        "backend": keras.backend.backend(),
        "device": device_name(runtime),
    }


def unseen_architectures(
    space: SearchSpace, count: int, seed: int, exclude: Sequence[tuple] = ()
) -> list[Architecture]:
    """`count` distinct random architectures with two reductions or more (no table entry is
    one), none of whose decisions are in `exclude`, or as many as the space has."""
    rng = random.Random(seed)
    found: dict[tuple, Architecture] = {}
    excluded = set(exclude)
    for _ in range(100 * count):
        if len(found) == count:
            break
        architecture = space.sample(rng)
        if architecture.reduced >= 2 and architecture.decisions not in excluded:
            found.setdefault(architecture.decisions, architecture)
    return list(found.values())
