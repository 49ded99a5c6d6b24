"""Where every stage keeps its files under the data dir.

::

    <data_dir>/
      sample/cta_like_daily.csv              embedded default source (generated)
      raw/<hash>/source.csv                  immutable snapshot, keyed by content hash
      raw/<hash>/manifest.json               source, sha256, rows, bytes, ingested_at
      raw/<hash>/quarantine.parquet          rejected rows with their reasons
      clean/<hash>/asof-<date>/clean/        long clean frame (series_id, ds, y, day_type, is_imputed),
                                             bucketed by series (seqcast.partitions)
      clean/<hash>/asof-<date>/report.json   rows in / kept / quarantined, duplicates, gaps
      gx/                                    Great Expectations file context; Data Docs under
                                             gx/uncommitted/data_docs/local_site/index.html
      published/forecasts/run_date=<date>/part-0.parquet   the forecast table, one partition per night
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

HASH_LEN = 16


@dataclass(frozen=True)
class DataDir:
    root: Path

    def __init__(self, root: str | Path = "data") -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def sample(self) -> Path:
        return self.root / "sample"

    def snapshot(self, sha256: str) -> Path:
        return self.root / "raw" / sha256[:HASH_LEN]

    def clean(self, sha256: str, as_of: date) -> Path:
        return self.root / "clean" / sha256[:HASH_LEN] / f"asof-{as_of.isoformat()}"

    @property
    def gx(self) -> Path:
        return self.root / "gx"

    @property
    def data_docs(self) -> Path:
        return self.gx / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def forecasts(self) -> Path:
        return self.root / "published" / "forecasts"

    def forecast_file(self, run_date: date) -> Path:
        """One night's table in a hive partition: ``run_date=<date>/part-0.parquet``."""
        return self.forecasts / f"run_date={run_date.isoformat()}" / "part-0.parquet"

    @property
    def backtests(self) -> Path:
        return self.root / "backtests"

    @property
    def plots(self) -> Path:
        return self.root / "published" / "plots"
