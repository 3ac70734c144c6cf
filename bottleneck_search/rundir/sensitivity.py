"""`<run>/sensitivity.json` and `.csv`: a compress run's per-site sensitivity table."""

from __future__ import annotations

import csv
import dataclasses
import io


@dataclasses.dataclass(frozen=True)
class SensitivityRow:
    """One site reduced to one width, every other site as trained.

    Attributes:
        site: the site's name.
        width: the reduction's width.
        macs_saved: MACs per image the reduction saves (negative: it costs more).
        val_accuracy, val_loss: the warm-started model's validation scores (`val_accuracy`
            holds the table's `metric` when that is not an accuracy).
        accuracy_drop: how much worse than the trained model it scores: its validation
            accuracy minus `val_accuracy` (for a metric to minimise, `val_accuracy` minus it).
    """

    site: str
    width: int
    macs_saved: int
    val_accuracy: float
    val_loss: float
    accuracy_drop: float


@dataclasses.dataclass(frozen=True)
class SensitivityTable:
    """Every site and width of a space, and the unreduced model they are measured against.

    Attributes:
        base_accuracy, base_loss: the trained model's validation scores (recalibrated the same way).
        rows: one `SensitivityRow` per site and width, in site order, widths ascending.
        seconds: wall time of the whole measurement.
        metric: the scoring metric when it is not an accuracy (`val_mae`), else None.
    """

    base_accuracy: float
    base_loss: float
    rows: tuple[SensitivityRow, ...]
    seconds: float
    metric: str | None = None

    def drop(self, site: str, width: int | None) -> float:
        """The accuracy drop of `site` at `width` (0 for no reduction)."""
        if width is None:
            return 0.0
        return next(r.accuracy_drop for r in self.rows if r.site == site and r.width == width)

    def get_config(self) -> dict:
        return {
            "base_accuracy": self.base_accuracy,
            "base_loss": self.base_loss,
            "seconds": self.seconds,
            "metric": self.metric,
            "rows": [dataclasses.asdict(row) for row in self.rows],
        }

    @classmethod
    def from_config(cls, data: dict) -> SensitivityTable:
        return cls(
            data["base_accuracy"],
            data["base_loss"],
            tuple(SensitivityRow(**row) for row in data["rows"]),
            data["seconds"],
            data.get("metric"),
        )

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        fields = [field.name for field in dataclasses.fields(SensitivityRow)]
        writer.writerow(fields)
        for row in self.rows:
            writer.writerow([getattr(row, name) for name in fields])
        return buffer.getvalue()
