"""Known-future calendar features: Saturdays, Sundays and holidays, by day.

The features are built from the calendar (and, where the source gives it, its
day type), never from the target, so the same function serves the history days
and the forecast horizon. Every feature column is a float 0/1 flag:

``saturday``
    Day type ``A`` where the source gives one; otherwise a Saturday that is not
    a Sunday-like holiday.
``sunday_holiday``
    Day type ``U`` where the source gives one; otherwise a Sunday or a
    Sunday-like public holiday (see below).
``near_holiday`` (only when ``holiday_window > 0``)
    Within ``holiday_window`` days of a public holiday, the holiday itself excluded.
``holiday``
    A public holiday of ``country``/``subdiv`` in the ``holidays`` package
    (observed days included), whatever the source says. Always the **last**
    column: :class:`seqcast.models.naive.SeasonalNaive` reads the holiday flag
    from the last exogenous column.

*Sunday-like holidays.* A source's day types need not follow the legal
calendar: CTA runs a Sunday service (``U``) on six holidays but a weekday
service on Illinois' other public holidays (Martin Luther King Jr. Day,
Columbus Day, Casimir Pulaski Day, ...). So where ``day_type`` is missing (the
horizon), a holiday counts as Sunday-like unless the source marked that same
holiday (by its name in ``holidays``) ``U`` on fewer than half of its
non-Sunday occurrences; a holiday the source never shows counts as Sunday-like.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from seqcast.errors import InputError

DAY_TYPES = ("W", "A", "U")


def calendar_features(
    ds: Sequence | pd.Series | pd.DatetimeIndex,
    *,
    day_type: pd.Series | None = None,
    country: str | None = None,
    subdiv: str | None = None,
    holiday_window: int = 0,
) -> pd.DataFrame:
    """Calendar flags for each day of ``ds``.

    Parameters
    ----------
    ds : days, shape ``(n,)``, in any order (repeats allowed).
    day_type : the source's day type (``W`` weekday, ``A`` Saturday, ``U``
        Sunday or holiday), either indexed by day (a ``DatetimeIndex``; days it
        lacks are derived) or, with any other index, aligned by position with
        ``ds`` (same length). Missing values are derived from the calendar.
    country, subdiv : a ``holidays`` calendar, e.g. ``"US"``, ``"IL"``. With
        ``country=None`` there are no holidays: ``holiday`` (and
        ``near_holiday``) are all 0 and ``sunday_holiday`` derives from Sundays.
    holiday_window : days either side of a holiday flagged ``near_holiday``;
        0 (the default) leaves the column out.

    Returns
    -------
    DataFrame, ``n`` rows in the order of ``ds``: ``ds`` then float columns
    ``saturday, sunday_holiday[, near_holiday], holiday`` (no NaN).

    Raises
    ------
    ValueError : NaT in ``ds``, day types other than ``W/A/U``, a misaligned
        ``day_type``, a negative ``holiday_window``, or a calendar ``holidays``
        does not have.
    ImportError : ``holidays`` is not installed (only needed with ``country``).

    Examples
    --------
    >>> days = pd.date_range("2021-11-24", periods=4)  # Wed, Thanksgiving, Fri, Sat
    >>> f = calendar_features(days, day_type=pd.Series(["W"], index=days[:1]), country="US")
    >>> f.drop(columns="ds").values.tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    days = pd.DatetimeIndex(pd.to_datetime(pd.Series(ds)).to_numpy()).normalize()
    if days.isna().any():
        raise ValueError("calendar_features: ds has missing days (NaT)")
    if holiday_window < 0:
        raise ValueError(f"calendar_features: holiday_window must be >= 0, got {holiday_window}")
    codes = _align_day_type(day_type, days)
    pad = pd.Timedelta(days=int(holiday_window))
    names = _holiday_names(country, subdiv, days.min() - pad, days.max() + pad) if len(days) else {}
    name = pd.Series(days).map(names).to_numpy(dtype=object)
    holiday = pd.notna(name)
    sunday_like = holiday & ~pd.Series(name).isin(_weekday_holidays(days, codes, name)).to_numpy()

    known = pd.notna(codes)
    weekday = days.day_of_week.to_numpy()
    derived_sunday = (weekday == 6) | sunday_like
    sunday_holiday = np.where(known, codes == "U", derived_sunday)
    saturday = np.where(known, codes == "A", (weekday == 5) & ~derived_sunday)

    out = {"ds": pd.Series(days), "saturday": saturday, "sunday_holiday": sunday_holiday}
    if holiday_window > 0:
        out["near_holiday"] = _near(days, sorted(names), int(holiday_window)) & ~holiday
    out["holiday"] = holiday
    frame = pd.DataFrame(out)
    flags = frame.columns[1:]
    frame[flags] = frame[flags].astype("float64")
    return frame


def panel_exog(
    history: pd.DataFrame,
    h: int,
    *,
    country: str | None = None,
    subdiv: str | None = None,
    holiday_window: int = 0,
) -> pd.DataFrame:
    """Calendar features for each series' history days and its next ``h`` days.

    Parameters
    ----------
    history : ``series_id, ds`` (+ ``y``, ignored) and optionally ``day_type``,
        one row per series and day.
    h : days after each series' last day to add (the horizon), ``>= 0``.
    country, subdiv, holiday_window : as in :func:`calendar_features`.

    Returns
    -------
    DataFrame ``series_id, ds, saturday, sunday_holiday[, near_holiday], holiday``,
    sorted by series and day: the ``exog`` of ``Forecaster.fit`` and the
    ``exog_future`` of ``Forecaster.predict`` at once.

    Raises
    ------
    ValueError : missing columns, repeated (series, day) rows, a negative ``h``,
        or any error of :func:`calendar_features`.

    Examples
    --------
    >>> hist = pd.DataFrame({"series_id": "bus", "ds": pd.date_range("2021-11-22", periods=3),
    ...                      "y": 1.0, "day_type": "W"})
    >>> x = panel_exog(hist, 2, country="US", subdiv="IL")
    >>> x["ds"].dt.day.tolist(), x["holiday"].tolist()
    ([22, 23, 24, 25, 26], [0.0, 0.0, 0.0, 1.0, 0.0])
    """
    missing = [c for c in ("series_id", "ds") if c not in history.columns]
    if missing:
        raise ValueError(f"panel_exog: history lacks column(s) {missing}")
    if int(h) != h or h < 0:
        raise ValueError(f"panel_exog: h must be a non-negative integer, got {h!r}")
    cols = ["series_id", "ds"] + (["day_type"] if "day_type" in history.columns else [])
    past = history[cols].copy()
    past["ds"] = pd.to_datetime(past["ds"])
    if past.duplicated(["series_id", "ds"]).any():
        raise ValueError("panel_exog: history has more than one row per series and day")
    last = past.groupby("series_id", sort=True)["ds"].max()
    steps = pd.to_timedelta(np.arange(1, int(h) + 1), unit="D")
    future = pd.DataFrame({
        "series_id": np.repeat(last.index.to_numpy(), len(steps)),
        "ds": (last.to_numpy()[:, None] + steps.to_numpy()[None, :]).ravel(),
    })
    panel = pd.concat([past, future], ignore_index=True)
    panel = panel.sort_values(["series_id", "ds"], kind="stable", ignore_index=True)
    day_type = panel["day_type"] if "day_type" in panel else None
    feats = calendar_features(panel["ds"], day_type=day_type, country=country,
                              subdiv=subdiv, holiday_window=holiday_window)
    return pd.concat([panel[["series_id"]], feats], axis=1)


def _align_day_type(day_type: pd.Series | None, days: pd.DatetimeIndex) -> np.ndarray:
    """Day type codes aligned with ``days``, ``None`` where unknown: shape ``(n,)``."""
    if day_type is None:
        return np.full(len(days), None, dtype=object)
    if isinstance(day_type.index, pd.DatetimeIndex):
        if day_type.index.has_duplicates:
            raise ValueError("calendar_features: day_type has repeated days in its index")
        codes = day_type.set_axis(day_type.index.normalize()).reindex(days).to_numpy(dtype=object)
    elif len(day_type) == len(days):
        codes = day_type.to_numpy(dtype=object)
    else:
        raise ValueError("calendar_features: day_type needs a DatetimeIndex or the length of ds "
                         f"({len(day_type)} != {len(days)})")
    codes = np.where(pd.isna(codes), None, codes)
    bad = set(codes[pd.notna(codes)]) - set(DAY_TYPES)
    if bad:
        raise ValueError(f"calendar_features: unknown day types {sorted(map(str, bad))[:5]}; "
                         f"expected {DAY_TYPES}")
    return codes


def _holiday_names(
    country: str | None, subdiv: str | None, start: pd.Timestamp, end: pd.Timestamp
) -> dict[pd.Timestamp, str]:
    """``{day: holiday name}`` for the public holidays between ``start`` and ``end``."""
    if country is None:
        return {}
    try:
        import holidays  # lazy: only callers with a country pay for it
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise ImportError("calendar_features(country=...) needs `pip install holidays`") from exc
    try:
        cal = holidays.country_holidays(country, subdiv=subdiv, years=range(start.year, end.year + 1))
    except NotImplementedError as exc:
        raise ValueError(f"calendar_features: holidays has no calendar {country!r}/{subdiv!r}") from exc
    return {pd.Timestamp(d): str(n) for d, n in cal.items() if start <= pd.Timestamp(d) <= end}


def _weekday_holidays(days: pd.DatetimeIndex, codes: np.ndarray, name: np.ndarray) -> list[str]:
    """Holiday names the source marked ``U`` on under half of their non-Sunday days."""
    seen = pd.notna(codes) & pd.notna(name) & (days.day_of_week.to_numpy() != 6)
    if not seen.any():
        return []
    share_u = pd.Series(codes[seen] == "U").groupby(name[seen]).mean()
    return share_u.index[share_u < 0.5].tolist()


def _near(days: pd.DatetimeIndex, holiday_days: list[pd.Timestamp], window: int) -> np.ndarray:
    """True where a holiday lies within ``window`` days of the day (itself included)."""
    if not holiday_days:
        return np.zeros(len(days), dtype=bool)
    hol = pd.DatetimeIndex(holiday_days).to_numpy().astype("datetime64[D]").astype(np.int64)
    day = days.to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.searchsorted(hol, day + window, side="right") > np.searchsorted(hol, day - window)


def parse_holidays(spec: str | None) -> tuple[str | None, str | None]:
    """``"US-IL"`` -> ``("US", "IL")``; ``"US"`` -> ``("US", None)``; None/""/"none" -> ``(None, None)``.

    Raises :class:`~seqcast.errors.InputError` for a country or subdivision the
    ``holidays`` package does not know, naming the valid ones.

    >>> parse_holidays("us-il"), parse_holidays(None)
    (('US', 'IL'), (None, None))
    """
    if not spec or str(spec).strip().lower() == "none":
        return None, None
    country, dash, subdiv = str(spec).strip().partition("-")
    if dash and not subdiv.strip():  # "US-": a subdivision left out, never the whole country silently
        raise InputError(f"holidays {spec!r}: no subdivision after '-' (COUNTRY or COUNTRY-SUBDIV: US or US-IL)")
    country, subdiv = country.upper(), (subdiv.upper() or None)
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise InputError(f"holidays {spec!r}: unknown country {country!r} (ISO 3166 codes "
                         "such as US, GB, DE, optionally -SUBDIV: US-IL)")
    if subdiv is not None and subdiv not in supported[country]:
        raise InputError(f"holidays {spec!r}: {country} has no subdivision {subdiv!r} "
                         f"(known: {', '.join(supported[country][:12])}...)")
    return country, subdiv


def known_future(
    history: pd.DataFrame,
    h: int,
    *,
    country: str | None = None,
    subdiv: str | None = None,
    holiday_window: int = 0,
) -> pd.DataFrame:
    """The nightly's known-future features: :func:`panel_exog`, where, for a source
    with a ``day_type``, ``holiday`` is the source's own notion of a holiday.

    CTA marks its holidays ``U`` (Sunday/holiday) and treats some public holidays
    (MLK Day, Pulaski Day...) as weekdays. With a ``day_type`` and a country
    calendar, ``holiday`` is 1 on the weekdays the source marks ``U`` (history
    days) and on the horizon's ``sunday_holiday`` weekdays (the country's holidays
    the source has treated as Sundays). Without a country calendar the features
    are the weekday only (the source's day type is not used): a holiday the
    model cannot be told about ahead must not be in its history either, or the
    backtest would score forecasts that knew more than tonight's can. The package's raw calendar
    made SARIMA worse on CTA rail (MAE 26,559 vs 23,950, 92 daily origins in 2019). Models take what they need: SARIMA
    drops the regressors that vanish under its differencing, the seasonal naive
    reads ``holiday``, the networks read every column.

    Examples
    --------
    >>> hist = pd.DataFrame({"series_id": "a", "ds": pd.date_range("2024-01-01", periods=3),
    ...                      "y": 1.0, "day_type": ["U", "W", "W"]})
    >>> known_future(hist, 1, country="US")["holiday"].tolist()
    [1.0, 0.0, 0.0, 0.0]
    >>> known_future(hist, 1)["holiday"].tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    if country is None and "day_type" in history.columns:
        # Without a holiday calendar the holidays of the days ahead are unknown; the source's
        # U days would tell the model (and its backtest) about past holidays only, and the
        # backtest would score forecasts that knew what tonight's forecast cannot.
        history = history.drop(columns="day_type")
    exog = panel_exog(history, h, country=country, subdiv=subdiv, holiday_window=holiday_window)
    if "day_type" in history.columns:
        weekday = exog["ds"].dt.day_of_week.to_numpy()
        src = exog[["series_id", "ds"]].merge(
            history[["series_id", "ds", "day_type"]].assign(ds=lambda d: pd.to_datetime(d["ds"])),
            on=["series_id", "ds"], how="left")["day_type"].to_numpy()
        declared = (src == "U") & (weekday != 6)
        # the source's own notion: a holiday is a weekday it treats as a Sunday (history:
        # its U days; horizon: the calendar's holidays it has treated so, see calendar_features)
        exog["holiday"] = np.where(pd.isna(src), exog["sunday_holiday"].to_numpy() * (weekday != 6),
                                   declared).astype(float)
    return exog
