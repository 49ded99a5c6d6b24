"""The known-future features of one series on given days (``seqcast.models.base._exog_for``):
the numpy lookup the backtester uses on every origin gives what a pandas index gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqcast.errors import ModelError
from seqcast.models.base import _exog_for


def _by_pandas(exog: pd.DataFrame, sid, ds) -> np.ndarray:
    part = exog[exog["series_id"] == sid] if "series_id" in exog else exog
    return part.set_index("ds").drop(columns=["series_id"], errors="ignore").loc[pd.Index(ds)].to_numpy(float)


def _exog(shuffle: bool) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=40)
    frames = [pd.DataFrame({"series_id": sid, "ds": days, "holiday": (days.day == k).astype(int),
                            "saturday": (days.day_of_week == 5).astype(float) * (k + 1)})
              for k, sid in enumerate(["a", "b", "c"])]
    exog = pd.concat(frames, ignore_index=True)
    return exog.sample(frac=1, random_state=0) if shuffle else exog


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("with_id", [True, False])
def test_lookup_matches_a_pandas_index(shuffle, with_id):
    exog = _exog(shuffle)
    if not with_id:
        exog = exog[exog["series_id"] == "b"].drop(columns="series_id")
    ds = pd.Series(pd.date_range("2024-01-10", periods=7))
    got = _exog_for(exog, "b", ds)
    np.testing.assert_array_equal(got, _by_pandas(exog, "b", ds))
    assert got.shape == (7, 2) and got.dtype == float


def test_a_missing_day_names_the_series_and_the_day():
    exog = _exog(False)
    with pytest.raises(ModelError, match=r"missing for 'b' on \[Timestamp\('2024-02-10"):
        _exog_for(exog, "b", pd.Series(pd.date_range("2024-02-08", periods=3)))
    with pytest.raises(ModelError, match="missing for 'z'"):
        _exog_for(exog, "z", pd.Series(pd.date_range("2024-01-08", periods=3)))
