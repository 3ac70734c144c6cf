"""`LatencyTable`: measured latency of a space's architectures in closed form, like `space.macs`.

A table holds the latency of the network without reductions (the base) and, for every site and
width, the change in latency when only that site is reduced, measured in the whole network (so
what fusion, memory traffic and the added layer do is inside the measurement). The predicted
latency of any architecture is

    base + sum over its reduced sites of entry(site, width)
    entry(site, width) = scale * change(site, width) + per_reduction

in microseconds. With `scale` 1 and `per_reduction` 0 this is the plain additive form, which
assumes the sites do not interact. They do: measured on this 2-core CPU (inception_mini,
batch 64), reducing all four sites saved 7.8 ms where the four single-site changes summed to
5.7 ms (smaller tensors together fit the caches better), and on small networks each added
layer costs a launch. So the build also times a few whole architectures (`fit`) and fits
`scale` and `per_reduction` to them by least squares: two numbers, and the prediction stays a
sum of per-site entries. `validate_table` measures how good the prediction is on architectures
neither step used (RMSPE, and the share predicted within +-10%); a table keeps its validation.

Building: each entry's model is timed side by side with the base, in alternating blocks of
calls (`measure.time_pairs`), and its change is the difference of their medians; a drift of the machine's speed (clocks,
other processes) slower than one pair cancels. The base's latency is the median of its
timings beside every entry, and their spread is the machine's variance over the build, kept with
the table (`base_spread`).
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
# Validation figures: predictions within this relative error count as "within".
TOLERANCE = 0.10


@dataclasses.dataclass(frozen=True)
class LatencyTable:
    """Per-site latency changes of a space, and the closed form that sums them.

    Attributes:
        space: the space's name.
        settings: how it was measured: `batch_size`, `runtime`, `threads`, `repeats`,
            `backend`, `device` (and the machine key, see `latency.cache`).
        base_us: the base network's latency (the median of its timings).
        changes: `{site: {width: change in microseconds}}` (a width as a string key, as JSON has).
        scale, per_reduction_us: the fitted terms (1 and 0: the plain sum).
        fitted: the architectures they were fitted on (never validated on).
        base_timings_us: every timing of the base, in order.
        timed_calls: forward passes timed or warmed up while building (validation excluded).
        seconds: wall time of the build (builds and compiles included).
        validation: what `validate_table` measured, or None.

    Example:

    ```python
    table = build_latency_table(space, batch_size=1)
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
    scale: float = 1.0
    per_reduction_us: float = 0.0
    fitted: tuple[dict[str, int | None], ...] = ()
    validation: dict[str, Any] | None = None

    @property
    def base_spread(self) -> float:
        """The base timings' standard deviation over their mean: the machine's variance over
        the build."""
        timings = self.base_timings_us
        return statistics.stdev(timings) / statistics.mean(timings) if len(timings) > 1 else 0.0

    def change_us(self, site: str, width: int | None) -> float:
        """The table's entry for reducing `site` to `width` (0 for no reduction): the fitted
        `scale` times the measured change, plus `per_reduction_us`."""
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

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, **dataclasses.asdict(self)}

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
                scale=_number(data.get("scale", 1.0)),
                per_reduction_us=_number(data.get("per_reduction_us", 0.0)),
                fitted=tuple(dict(widths) for widths in data.get("fitted", ())),
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
            f"built in {self.seconds:.0f} s ({self.timed_calls} calls); entry = "
            f"{self.scale:.3f} x change {self.per_reduction_us / 1000:+.3f} ms",
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
        fit: random architectures (two reductions or more) timed whole to fit `scale` and
            `per_reduction_us`; 0 keeps the plain sum.
        seed: the draw of those architectures (`validate_table` draws with another seed).
        on_progress: called with a line after each site.

    Returns:
        The table, without validation (see `validate_table`).
    """
    check_settings(batch_size, runtime, threads, repeats)
    set_threads(threads, runtime)
    started = time.monotonic()
    bench = _Bench(space, batch_size, runtime, threads, repeats)
    changes: dict[str, dict[str, float]] = {}
    for number, site in enumerate(space.sites, start=1):
        changes[site.name] = {}
        for width in site.widths:
            base, reduced = bench.beside_base({site.name: width})
            changes[site.name][str(width)] = reduced - base
        if on_progress is not None:
            shown = ", ".join(f"{w}: {c / 1000:+.3f}" for w, c in changes[site.name].items())
            on_progress(f"latency table: site {number}/{len(space.sites)} {site.name} ({shown} ms)")
    table = LatencyTable(
        space=space.name,
        settings=measure_settings(batch_size, runtime, threads, repeats),
        base_us=0.0,
        changes=changes,
        base_timings_us=(),
        timed_calls=0,
        seconds=0.0,
    )
    points = []
    fitted = unseen_architectures(space, fit, seed)
    for architecture in fitted:
        base, reduced = bench.beside_base(architecture.widths)
        points.append((table.predict_us(architecture), architecture.reduced, reduced - base))
    scale, per_reduction = _fit_terms(points)
    if on_progress is not None and points:
        on_progress(
            f"latency table: fitted on {len(points)} architectures: entry = {scale:.3f} x change "
            f"{per_reduction / 1000:+.3f} ms"
        )
    return dataclasses.replace(
        table,
        base_us=statistics.median(bench.base_timings),
        base_timings_us=tuple(bench.base_timings),
        timed_calls=bench.calls,
        seconds=round(time.monotonic() - started, 3),
        scale=scale,
        per_reduction_us=per_reduction,
        fitted=tuple(a.widths for a in fitted),
    )


class _Bench:
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


def _fit_terms(points: Sequence[tuple[float, int, float]]) -> tuple[float, float]:
    """`(scale, per_reduction)` minimising the squared error of `scale * S + per_reduction * n`
    against the measured change `D`, for points `(S, n, D)` (S: the plain sum of the changes,
    n: the reductions); `(1, 0)` when the points cannot decide both."""
    if len(points) < 2:
        return 1.0, 0.0
    ss = sum(p * p for p, _, _ in points)
    sn = sum(p * n for p, n, _ in points)
    nn = sum(n * n for _, n, _ in points)
    sd = sum(p * d for p, _, d in points)
    nd = sum(n * d for _, n, d in points)
    determinant = ss * nn - sn * sn
    if abs(determinant) <= 1e-12 * max(ss * nn, 1.0):
        return 1.0, 0.0
    return (sd * nn - nd * sn) / determinant, (ss * nd - sn * sd) / determinant


def measure_settings(batch_size: int, runtime: str, threads: int | None, repeats: int) -> dict:
    """The settings a table records: what was asked and what ran it."""
    import keras

    from bottleneck_search.latency.measure import device_name

    return {
        "batch_size": batch_size,
        "runtime": runtime,
        "threads": threads,
        "repeats": repeats,
        "backend": keras.backend.backend(),
        "device": device_name(runtime),
    }


def validate_table(
    table: LatencyTable,
    space: SearchSpace,
    architectures: int | Sequence[Architecture] = 10,
    seed: int = 1,
    on_progress: Callable[[str], None] | None = None,
) -> LatencyTable:
    """The table with the validation of its prediction on architectures it was not built from.

    Each architecture is timed side by side with the base network. Two errors are kept: against
    the architecture's measured latency (what a user sees), and against the same measurement
    with the table's base scaled to the base measured beside it (so the machine's own drift
    since the table was built, which no table can know, is left out).

    Args:
        table: a table of `space`.
        architectures: how many random architectures to draw (with two reductions or more, so
            none is a table entry), or the architectures themselves.
        seed: the draw's seed (the build's fit uses 0).

    Returns:
        A copy of `table` whose `validation` holds `architectures`, `rmspe` and `within` (the
        share within `TOLERANCE`), `rmspe_paired` and `within_paired` (drift left out),
        `tolerance` and one row per architecture (`architecture`, `macs`, `predicted_us`,
        `measured_us`, `base_us`: the base timed beside it).
    """
    settings = table.settings
    used = [tuple(widths.items()) for widths in table.fitted]
    chosen = (
        unseen_architectures(space, architectures, seed, exclude=used)
        if isinstance(architectures, int)
        else list(architectures)
    )
    bench = _Bench(
        space, settings["batch_size"], settings["runtime"], settings["threads"], settings["repeats"]
    )
    rows = []
    for number, architecture in enumerate(chosen, start=1):
        base, measured = bench.beside_base(architecture.widths)
        predicted = table.predict_us(architecture)
        rows.append(
            {
                "architecture": architecture.widths,
                "macs": architecture.macs,
                "predicted_us": predicted,
                "measured_us": measured,
                "base_us": base,
            }
        )
        if on_progress is not None:
            on_progress(
                f"latency validation {number}/{len(chosen)}: predicted {predicted / 1000:.3f} ms, "
                f"measured {measured / 1000:.3f} ms (base beside it {base / 1000:.3f} ms)"
            )
    errors = [r["predicted_us"] / r["measured_us"] - 1 for r in rows]
    paired = [
        (r["predicted_us"] - table.base_us + r["base_us"]) / r["measured_us"] - 1 for r in rows
    ]
    validation = {
        "architectures": len(rows),
        **_error_summary(errors, ""),
        **_error_summary(paired, "_paired"),
        "tolerance": TOLERANCE,
        "rows": rows,
    }
    return dataclasses.replace(table, validation=validation)


def _error_summary(errors: Sequence[float], suffix: str) -> dict[str, float]:
    if not errors:
        return {f"rmspe{suffix}": 0.0, f"within{suffix}": 0.0}
    return {
        f"rmspe{suffix}": math.sqrt(statistics.mean(e * e for e in errors)),
        f"within{suffix}": sum(abs(e) <= TOLERANCE for e in errors) / len(errors),
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
