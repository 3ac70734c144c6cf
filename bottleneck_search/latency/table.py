"""`LatencyTable`: measured latency of a space's architectures in closed form, like `space.macs`.

A table holds the latency of the network without reductions (the base) and, for every site and
width, the change in latency when that site's conv gets its reduction, timed on the conv alone
at its input shape (`latency.blocks`). The predicted latency of any architecture is a sum of
per-site entries, in microseconds:

    base + sum over its reduced sites of (scale * change(site, width) + per_reduction)

`scale` says how much of a change timed on the conv alone shows in the whole network (caches
hold other layers' weights and tensors there; the call's fixed cost is shared); `per_reduction`
is what each reduction costs the network beyond that. Both are fitted on `fit` whole
architectures with two reductions or more, timed in turn with the base (`latency.fit`, which
says when the second term is kept); with no fit, `scale` is 1 and `per_reduction` 0 (the plain
sum).

Why the conv alone and not the whole network: a conv alone takes a small fraction of a network
call, so an entry costs about what two network calls do and its noise is that fraction of the
network's; timed in the whole network, single-site changes drown in the base's own spread
(docs/latency.md has the measurements behind this and every other choice here).

Building: a site's conv alone and its reduced versions at every width are timed in turn, in
blocks of calls (`measure.time_round_robin`), and each entry is the difference of the fastest
call at its width and the fastest alone: other processes only ever add time to a call, and one
burst of them moves a median of a few calls by more than a small conv's entry. The whole network's
timings (the base, the fitted and validated architectures) stay medians: that is what a user's
call takes, and `scale` carries the entries from one to the other. The fitted architectures are
built at once and timed in turn with the base (each model is held in memory meanwhile). The base
is timed alone first, and its latency is the median of its calls then and in the fit, at the two
ends of the build; their coefficient of variation is the machine's variance per call over the
build, kept with the table (`base_spread`). Timing in turn, not in pairs, times the conv alone
once per site rather than once per width, and the base twice (alone, then with all the fitted
architectures) rather than once per fitted architecture. `validate_table` measures how good
the prediction is on architectures the build did not time (RMSPE, and the share predicted
within +-10%); a table keeps its validation.
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
from bottleneck_search.latency.blocks import block_model, site_conv
from bottleneck_search.latency.fit import fit_inputs, fit_scale, fit_terms
from bottleneck_search.latency.measure import (
    DEFAULT_REPEATS,
    DEFAULT_WARMUP,
    check_settings,
    device_name,
    inference_call,
    random_batch,
    round_robin_calls,
    set_threads,
    time_round_robin,
)

if TYPE_CHECKING:
    from bottleneck_search.space.architecture import Architecture
    from bottleneck_search.space.search_space import SearchSpace

FORMAT = "bottleneck-search/latency-table"
# Version 6 adds `per_reduction_us` to version 5's model: a version 5 table reads as one whose
# fit held that term at zero, which is how it predicts. Older versions measured otherwise
# (docs/latency.md) and are refused (`from_config`); the cache key holds the version.
VERSION = 6
READABLE_VERSIONS = (5, 6)


@dataclasses.dataclass(frozen=True)
class LatencyTable:
    """Per-site latency changes of a space, and the closed form that sums them.

    Attributes:
        space: the space's name.
        settings: how it was measured: `batch_size`, `runtime`, `threads`, `repeats`,
            `backend`, `device` (and the machine key, see `latency.cache`).
        base_us: the base network's latency (the median of its timed calls).
        changes: `{site: {width: change in microseconds}}`, timed on the site's conv alone (a
            width as a string key, as JSON has).
        scale: how much of the summed changes shows in the whole network (1: the plain sum).
        per_reduction_us: what each reduction adds to the network beyond its scaled change
            (0 unless the fit showed it is needed).
        fitted: the whole architectures timed for `scale` and `per_reduction_us` (never
            validated on), with `fit_points`: `(summed changes, measured change)` in
            microseconds each.
        base_timings_us: every timed call of the base, in order.
        network_calls, block_calls: calls of whole networks and of single convs made while
            building (warm-up included, validation excluded).
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
    network_calls: int
    block_calls: int
    seconds: float
    scale: float = 1.0
    per_reduction_us: float = 0.0
    fitted: tuple[dict[str, int | None], ...] = ()
    fit_points: tuple[tuple[float, float], ...] = ()
    validation: dict[str, Any] | None = None

    @property
    def base_spread(self) -> float:
        """The coefficient of variation of the base's timed calls: the machine's variance per
        call over the build."""
        timings = self.base_timings_us
        return statistics.stdev(timings) / statistics.mean(timings) if len(timings) > 1 else 0.0

    def change_us(self, site: str, width: int | None) -> float:
        """The table's entry for reducing `site` to `width` (0 for no reduction): `scale` times
        the change timed on the site's conv alone, plus `per_reduction_us`."""
        if width is None:
            return 0.0
        try:
            return self.scale * self.changes[site][str(width)] + self.per_reduction_us
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

    def get_config(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_config(cls, data: Any, source: str = "latency table") -> LatencyTable:
        """A table from `get_config()`'s form.

        Raises:
            LatencyError: not a latency table, one of an earlier version, or a value of the
                wrong kind.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise LatencyError(f"{source} is not a bottleneck-search latency table.")
        if data.get("version") not in READABLE_VERSIONS:
            raise LatencyError(
                f"{source} is a latency table of version {data.get('version')!r}, measured "
                "another way; this bottleneck-search reads versions "
                f"{' and '.join(map(str, READABLE_VERSIONS))} only."
            )
        try:
            table = cls(
                space=str(data["space"]),
                settings=dict(data["settings"]),
                base_us=_number(data["base_us"]),
                changes={
                    str(site): {str(w): _number(v) for w, v in widths.items()}
                    for site, widths in data["changes"].items()
                },
                base_timings_us=tuple(_number(t) for t in data["base_timings_us"]),
                network_calls=int(data["network_calls"]),
                block_calls=int(data["block_calls"]),
                seconds=_number(data["seconds"]),
                scale=_number(data["scale"]),
                per_reduction_us=_number(data.get("per_reduction_us", 0.0)),
                fitted=tuple(dict(widths) for widths in data["fitted"]),
                fit_points=tuple(
                    (_number(summed), _number(measured)) for summed, measured in data["fit_points"]
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
            f"base {self.base_us / 1000:.3f} ms (median of {len(self.base_timings_us)} calls, "
            f"coefficient of variation {100 * self.base_spread:.1f}%); "
            f"{sum(len(w) for w in self.changes.values())} entries over {len(self.changes)} sites, "
            f"timed on each conv alone; scale {self.scale:.3f}"
            + (f", {self.per_reduction_us:+.0f} us per reduction" if self.per_reduction_us else "")
            + f" (from {len(self.fit_points)} whole architectures); built in "
            f"{self.seconds:.0f} s ({self.network_calls} network calls, {self.block_calls} conv "
            "calls)",
        ]
        if self.validation:
            v = self.validation
            lines.append(
                f"validated on {v['architectures']} architectures it was not built from: RMSPE "
                f"{100 * v['rmspe']:.1f}%, {100 * v['within']:.0f}% within "
                f"+-{100 * v['tolerance']:.0f}% (drift left out by the base timed beside each: "
                f"RMSPE {100 * v['rmspe_paired']:.1f}%, {100 * v['within_paired']:.0f}% within); "
                f"the base itself, timed beside each, was within +-{100 * v['tolerance']:.0f}% "
                f"of the table's base {100 * v['base_within']:.0f}% of the time"
            )
        return "\n".join(lines)


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
    """Measures the base and every `(site, width)` of `space`: each entry timed on the site's
    conv alone, with and without the reduction, then `scale` (and, where leaving each fitted
    architecture out shows it is needed, `per_reduction_us`) fitted on whole architectures.
    docs/latency.md has how well tables predict on the machines measured.

    Args:
        space: the space.
        batch_size, runtime, threads: as for `measure_latency`.
        repeats: calls timed of each model per entry (and of each fitted architecture).
        fit: random architectures (two reductions or more) timed whole, for `scale` and
            `per_reduction_us` (the latter needs 4 or more); they are built at once, so the
            build holds `fit + 1` copies of the network's weights.
        seed: the draw of those architectures (`validate_table` draws with another seed).
        on_progress: called with a line after each site.

    Returns:
        The table, without validation (see `validate_table`).

    Raises:
        LatencyError: bad settings, or a site whose conv cannot be rebuilt on its own.

    Example:

    ```python
    tiny = SearchSpace.from_yaml(tiny_space)
    table = build_latency_table(tiny, repeats=3, fit=2)
    assert tiny.with_latency(table).cheapest().latency_us > 0
    ```
    """
    check_settings(batch_size, runtime, threads, repeats)
    set_threads(threads, runtime)
    started = time.monotonic()
    bench = Bench(space, batch_size, runtime, threads, repeats)
    # The base alone first (it warms the process up too), and again in turn with the fitted
    # architectures at the end: its latency is the median of both, over the build's whole span.
    bench.beside_base([])
    changes: dict[str, dict[str, float]] = {}
    block_calls = 0
    for number, site in enumerate(space.sites, start=1):
        conv = site_conv(bench.base_model, site)
        calls = [
            _call(block_model(conv, site, space, batch_size, width), batch_size, bench)
            for width in (None, *site.widths)
        ]
        alone, *reduced = time_round_robin(calls, repeats, DEFAULT_WARMUP)
        changes[site.name] = {
            str(width): (min(timings) - min(alone)) * 1e6
            for width, timings in zip(site.widths, reduced, strict=True)
        }
        block_calls += len(calls) * round_robin_calls(repeats, DEFAULT_WARMUP)
        del calls
        gc.collect()
        if on_progress is not None:
            shown = ", ".join(f"{w}: {c / 1000:+.3f}" for w, c in changes[site.name].items())
            on_progress(f"latency table: site {number}/{len(space.sites)} {site.name} ({shown} ms)")
    fitted = unseen_architectures(space, fit, seed)
    base, measured = bench.beside_base([architecture.widths for architecture in fitted])
    fit_points = [
        (
            sum(changes[s][str(w)] for s, w in architecture.widths.items() if w is not None),
            whole_us - base,
        )
        for architecture, whole_us in zip(fitted, measured, strict=True)
    ]
    points = fit_inputs([architecture.widths for architecture in fitted], fit_points)
    scale, per_reduction = fit_terms(points)
    table = LatencyTable(
        space=space.name,
        settings=measure_settings(batch_size, runtime, threads, repeats),
        base_us=statistics.median(bench.base_timings),
        changes=changes,
        base_timings_us=tuple(bench.base_timings),
        network_calls=bench.calls,
        block_calls=block_calls,
        seconds=round(time.monotonic() - started, 3),
        scale=scale,
        per_reduction_us=per_reduction,
        fitted=tuple(a.widths for a in fitted),
        fit_points=tuple(fit_points),
    )
    if per_reduction and space.with_latency(table).fastest().latency_us <= 0:
        # Fitted on a few architectures, the cost per reduction would have the fastest one take
        # no time at all: an extrapolation, not a measurement. The scale alone, then.
        table = dataclasses.replace(table, scale=fit_scale(points), per_reduction_us=0.0)
    if on_progress is not None and fit_points:
        on_progress(
            f"latency table: scale {table.scale:.3f}, {table.per_reduction_us:+.0f} us per "
            f"reduction, from {len(fit_points)} whole architectures (their change in the network "
            "against the sum of their sites' changes alone and their number of reductions)"
        )
    return table


def _call(model, batch_size: int, bench: Bench) -> Callable[[], object]:
    return inference_call(model, random_batch(model, batch_size), bench.runtime, bench.threads)


class Bench:
    """Times architectures of a space in turn with its base network (`time_round_robin`)."""

    def __init__(self, space, batch_size: int, runtime: str, threads: int | None, repeats: int):
        self.space, self.runtime, self.threads, self.repeats = space, runtime, threads, repeats
        self.base_model = space.build(space.no_bottleneck())
        self.batch = random_batch(self.base_model, batch_size)
        self.base_call = inference_call(self.base_model, self.batch, runtime, threads)
        self.base_timings: list[float] = []  # every timed call of the base, in microseconds
        self.calls = 0

    def beside_base(
        self, architectures: Sequence[Mapping[str, int | None]]
    ) -> tuple[float, list[float]]:
        """Median microseconds of the base and of each architecture (`{site: width}`), all
        built at once and timed in turn; with none, the base alone."""
        calls = [self.base_call]
        for widths in architectures:
            calls.append(
                inference_call(self.space.build(widths), self.batch, self.runtime, self.threads)
            )
        base, *timed = time_round_robin(calls, self.repeats, DEFAULT_WARMUP)
        self.calls += len(calls) * round_robin_calls(self.repeats, DEFAULT_WARMUP)
        del calls
        gc.collect()
        self.base_timings.extend(seconds * 1e6 for seconds in base)
        return statistics.median(base) * 1e6, [statistics.median(t) * 1e6 for t in timed]


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
