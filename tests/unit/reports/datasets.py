"""Generated datasets for the report tests: unicode, empty columns, mixed types, dates, size."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIONS = ["North", "Süd", "東京", "Ελλάδα", "<script>alert('x')</script>"]
NOTES = ['=HYPERLINK("http://evil")', "+1 555 0100", "-minus", "@SUM(A1)", "plain", None]


def sales(rows: int = 500, seed: int = 7) -> pd.DataFrame:
    """A sales table: ids, ISO dates over a year, a unicode region, amounts, mixed and empty."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2025-01-01", periods=rows, freq=f"{max(1, 365 * 24 // rows)}h")
    return pd.DataFrame(
        {
            "order_id": np.arange(1, rows + 1),
            "ordered_at": dates.strftime("%Y-%m-%d %H:%M:%S"),
            "region": rng.choice(REGIONS, rows),
            "amount": rng.gamma(2.0, 50.0, rows).round(2),
            "quantity": rng.integers(1, 20, rows),
            "note": rng.choice(np.array(NOTES, dtype=object), rows),
            "nothing": [None] * rows,
            "mixed": rng.choice(np.array(["1", "2.5", "n/a", "7", "unknown"], dtype=object), rows),
        }
    )
