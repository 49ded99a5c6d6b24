"""Real-world inputs (issue 13), modelled on public bug reports of forecasting and data tools.

Each case asserts its documented outcome (README, "Bad input"): the exact values
where the input is usable, the quarantine reason of the rows set aside, or the one
``seqcast: error:`` line. Most cases run the data stages in memory
(:func:`seqcast.pipeline.clean_source`, the code the nightly flow runs); a few run
the nightly flow end to end and check what it published.
"""

from __future__ import annotations

import io
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from seqcast.errors import CleaningError, InputError
from seqcast.ingest import Mapping
from seqcast.pipeline import clean_source
from seqcast.published import read_published_file

TODAY = date(2025, 6, 1)
DAYS = pd.date_range("2024-01-01", periods=60, freq="D")
VALUES = np.round(100 + 10 * np.sin(np.arange(60) * 2 * np.pi / 7), 1)


def _write(tmp_path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


def _mapping(tmp_path, text: str, name: str = "m.yaml") -> str:
    return _write(tmp_path, name, text)


def _wide_csv(values=VALUES, days=DAYS, sep=",", fmt=lambda v: f"{v}", date_fmt="%Y-%m-%d") -> str:
    lines = [f"Date{sep}v"] + [f"{d.strftime(date_fmt)}{sep}{fmt(v)}" for d, v in zip(days, values)]
    return "\n".join(lines) + "\n"


WIDE = "date_column: Date\nvalue_columns: [v]\nnon_negative: false\n"
LONG = "date_column: date\nseries_column: series\nvalue_column: value\n"


def _run(tmp_path, csv: str, mapping: str, name: str = "src.csv", **kw):
    return clean_source(_write(tmp_path, name, csv), _mapping(tmp_path, mapping), today=TODAY, **kw)


def _reasons(out) -> list[str]:
    return out.quarantine["reason"].tolist()


# ----------------------------------------------------------------- 1. decimal marks, thousands


def test_decimal_commas_without_the_option_are_refused_not_multiplied(tmp_path):
    csv = _wide_csv(sep=";", fmt=lambda v: f"{v}".replace(".", ","))
    with pytest.raises(InputError, match=r"src.csv: every one of the 60 rows was rejected.*'100,0' is not a number"):
        _run(tmp_path, csv, WIDE + "delimiter: ';'\n")


@pytest.mark.parametrize("cell", ["769.069", "1.234", "-12.500"])
def test_a_grouped_number_among_whole_numbers_is_refused_not_read_as_a_fraction(tmp_path, cell):
    """'769.069' in a column of counts is 769069 with '.' grouping thousands (a European
    export), not 769.069 riders: the row goes to the quarantine with the reason
    (helper's report: a long file published a forecast 20 % low from it)."""
    rows = [f"2024-01-{d:02d},bus,{700000 + (d * 7919) % 90000}" for d in range(1, 20)] + [f"2024-01-20,bus,{cell}"]
    out = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG + "non_negative: false\n")
    assert len(out.quarantine) == 1 and "is ambiguous: every other value is a whole number" in _reasons(out)[0]
    assert f"'{cell}'" in _reasons(out)[0] and len(out.clean) == 19
    # with the separator declared it is the whole number; with decimals elsewhere, a decimal
    declared = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n",
                    LONG + "non_negative: false\nthousands: '.'\ndecimal: ','\n")
    assert declared.quarantine.empty, _reasons(declared)
    assert declared.clean["y"].iloc[-1] == float(cell.replace(".", ""))
    decimals = [r + ".5" if i % 2 else r for i, r in enumerate(rows[:-1])] + rows[-1:]
    mixed = _run(tmp_path, "date,series,value\n" + "\n".join(decimals) + "\n", LONG + "non_negative: false\n")
    assert not any("ambiguous" in r for r in _reasons(mixed)), _reasons(mixed)


def test_decimal_commas_with_the_option_parse_exactly(tmp_path):
    csv = _wide_csv(sep=";", fmt=lambda v: f"{v}".replace(".", ","))
    out = _run(tmp_path, csv, WIDE + "delimiter: ';'\ndecimal: ','\n")
    assert out.clean["y"].tolist() == VALUES.tolist()
    assert out.quarantine.empty


def test_one_decimal_comma_in_a_dot_file_is_quarantined_alone(tmp_path):
    values = [f"{v}" for v in VALUES]
    values[10] = "6,1"
    csv = "Date;v\n" + "".join(f"{d:%Y-%m-%d};{v}\n" for d, v in zip(DAYS, values))
    out = _run(tmp_path, csv, WIDE + "delimiter: ';'\nmax_imputed_share: 0.5\n")
    assert _reasons(out) == ["v: '6,1' is not a number (decimal mark '.', no thousands separator; "
                             "see decimal/thousands in the mapping)"]
    assert out.clean["is_imputed"].sum() == 1 and out.clean.loc[10, "y"] != 61.0


def test_quoted_thousands_separators_need_the_option(tmp_path):
    csv = 'Date,v\n2024-01-01,"1,234"\n2024-01-02,"2,345.5"\n2024-01-03,17\n'
    out = _run(tmp_path, csv, WIDE + "thousands: ','\n")
    assert out.clean["y"].tolist() == [1234.0, 2345.5, 17.0]
    out = _run(tmp_path, csv, WIDE)  # without the option: set aside, never read as 1.234 or 1234
    assert out.clean["y"].tolist() == [17.0]
    assert [r.split(" (")[0] for r in _reasons(out)] == ["v: '1,234' is not a number", "v: '2,345.5' is not a number"]


def test_european_number_format(tmp_path):
    csv = "Date;v\n2024-01-01;1.234,5\n2024-01-02;-0,25\n2024-01-03;12\n2024-01-04;1.23\n"
    out = _run(tmp_path, csv, WIDE + "delimiter: ';'\ndecimal: ','\nthousands: '.'\nmax_imputed_share: 0.5\n")
    assert out.clean["y"].tolist()[:3] == [1234.5, -0.25, 12.0]
    assert _reasons(out) == ["v: '1.23' is not a number (decimal mark ',', thousands separator '.'; "
                             "see decimal/thousands in the mapping)"]


# ----------------------------------------------------------------- rows and headers the reader cannot split


def test_a_row_with_too_many_fields_is_quarantined_not_an_index(tmp_path):
    csv = _wide_csv() + "2024-03-01,5,oops\n"
    out = _run(tmp_path, csv, WIDE)
    assert out.quarantine[["line", "stage", "reason"]].values.tolist() == [[62, "read", "expected 2 fields, found 3"]]
    assert out.clean["y"].tolist() == VALUES.tolist()
    assert out.report["rows_in"] == 61 and out.report["rows_kept"] == 60


def test_every_row_with_extra_fields_is_one_error(tmp_path):
    with pytest.raises(InputError, match=r"src.csv: every one of the 2 rows was rejected, e.g. line 2: "
                                         r"expected 2 fields, found 3"):
        _run(tmp_path, "Date,v\n2024-01-01,1,2\n2024-01-02,1,2\n", WIDE)


def test_a_column_named_in_another_case_is_pointed_at(tmp_path):
    """A mapping asking for 'Date' and 'v' of a file whose header says ``date,V`` (another
    export, another tool) was "missing required column(s) 'Date', 'v' (found 'date', 'V')"
    with no word that these are the ones; never matched silently either."""
    with pytest.raises(InputError) as info:
        _run(tmp_path, _wide_csv().replace("Date,v", "date,V"), WIDE)
    assert str(info.value).endswith("src.csv: missing required column(s) 'Date', 'v' (found 'date', 'V'); 'date' "
                                    "differs from 'Date' only in case or spaces, 'V' differs from 'v' only in case "
                                    "or spaces")


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    csv = "Date,v,v\n" + "".join(f"{d:%Y-%m-%d},{v},{-v}\n" for d, v in zip(DAYS, VALUES))
    with pytest.raises(InputError, match=r"src.csv: the header names column\(s\) \['v'\] more than once"):
        _run(tmp_path, csv, WIDE)


def test_byte_order_mark_and_crlf_line_ends(tmp_path):
    csv = ("\ufeff" + _wide_csv()).replace("\n", "\r\n")
    out = _run(tmp_path, csv, WIDE)
    assert out.clean["y"].tolist() == VALUES.tolist() and out.quarantine.empty


# ----------------------------------------------------------------- 2. sampling interval, imputation


@pytest.mark.parametrize("freq, word, step", [("W-MON", "weekly", 7), ("MS", "monthly", 31), ("3D", "every 3 days", 3)])
def test_non_daily_wide_data_stops_naming_the_interval(tmp_path, freq, word, step):
    days = pd.date_range("2022-01-03", periods=40, freq=freq)
    with pytest.raises(CleaningError, match=rf"src.csv: not daily: the 40 rows .* are {step} days apart \({word}\)"):
        _run(tmp_path, _wide_csv(np.arange(40.0), days), WIDE)


def test_weekly_long_data_stops(tmp_path):
    days = pd.date_range("2023-01-02", periods=60, freq="W-MON")
    csv = "date,series,value\n" + "".join(f"{d:%Y-%m-%d},{s},{i}\n" for s in "ab" for i, d in enumerate(days))
    with pytest.raises(CleaningError, match=r"no series is daily: the 120 rows are 7 days apart \(weekly\)"):
        _run(tmp_path, csv, LONG)


def test_one_weekly_series_among_daily_ones_is_quarantined_alone(tmp_path):
    daily = "".join(f"{d:%Y-%m-%d},a,{v}\n" for d, v in zip(DAYS, VALUES))
    weekly = "".join(f"{d:%Y-%m-%d},w,{i}\n" for i, d in enumerate(pd.date_range("2024-01-01", periods=9, freq="7D")))
    out = _run(tmp_path, "date,series,value\n" + daily + weekly, LONG)
    assert out.report["series"] == ["a"] and out.report["series_quarantined"] == ["w"]
    assert out.clean["y"].tolist() == VALUES.tolist()
    assert all(r.startswith("series w: not daily: the 9 rows are 7 days apart (weekly)") for r in _reasons(out))


def test_business_day_data_is_refused_for_too_many_imputed_days(tmp_path):
    days = pd.bdate_range("2024-01-01", periods=60)
    with pytest.raises(CleaningError, match=r"(\d+) of 82 days \(2\d%\) would be imputed, more than max_imputed_share 0.2"):
        _run(tmp_path, _wide_csv(np.arange(60.0), days), WIDE)


def test_imputed_share_is_configurable_and_reported(tmp_path):
    days = pd.bdate_range("2024-01-01", periods=60)
    out = _run(tmp_path, _wide_csv(np.arange(60.0), days), WIDE + "max_imputed_share: 0.3\n")
    assert out.report["days_imputed"] == 22 and out.clean["is_imputed"].sum() == 22


def test_long_series_with_too_many_imputed_days_is_quarantined_alone(tmp_path):
    good = "".join(f"{d:%Y-%m-%d},a,{v}\n" for d, v in zip(DAYS, VALUES))
    sparse = "".join(f"{d:%Y-%m-%d},b,{v}\n" for d, v in zip(DAYS[::2], VALUES[::2]))  # every other day
    out = _run(tmp_path, "date,series,value\n" + good + sparse, LONG)
    assert out.report["series_quarantined"] == ["b"]
    assert "b" not in set(out.clean["series_id"])


# ----------------------------------------------------------------- 3. time zones and times of day


def _berlin_midnights(days) -> list[str]:
    return [d.tz_localize("Europe/Berlin").tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ") for d in days]


DST_DAYS = pd.date_range("2023-10-20", periods=20, freq="D")  # Berlin leaves summer time on 2023-10-29


def test_utc_instants_at_local_midnight_become_that_zones_days(tmp_path):
    stamps = _berlin_midnights(DST_DAYS)
    assert stamps[8].endswith("T22:00:00Z") and stamps[10].endswith("T23:00:00Z")
    csv = "Date,v\n" + "".join(f"{t},{i}\n" for i, t in enumerate(stamps))
    out = _run(tmp_path, csv, WIDE + "date_format: ISO8601\ntimezone: Europe/Berlin\n")
    assert out.clean["ds"].tolist() == list(DST_DAYS)
    assert out.clean["y"].tolist() == list(map(float, range(20)))
    assert not out.clean["is_imputed"].any() and out.quarantine.empty
    assert (out.clean["ds"] == out.clean["ds"].dt.normalize()).all()  # day precision


def test_instants_without_a_timezone_are_refused_not_shifted(tmp_path):
    csv = "Date,v\n" + "".join(f"{t},{i}\n" for i, t in enumerate(_berlin_midnights(DST_DAYS)))
    with pytest.raises(InputError, match="is an instant, not a day.*set 'timezone' in the mapping"):
        _run(tmp_path, csv, WIDE + "date_format: ISO8601\n")


def test_short_as_of_keeps_the_real_values_of_local_days(tmp_path):
    csv = "Date,v\n" + "".join(f"{t},{i}\n" for i, t in enumerate(_berlin_midnights(DST_DAYS)))
    path = _write(tmp_path, "tz.csv", csv)
    m = _mapping(tmp_path, WIDE + "date_format: ISO8601\ntimezone: Europe/Berlin\n")
    out = clean_source(path, m, as_of=date(2023, 10, 30))
    assert out.clean["ds"].max() == pd.Timestamp("2023-10-30")
    assert out.clean["y"].tolist() == list(map(float, range(11))) and not out.clean["is_imputed"].any()


def test_percent_z_with_offsets_that_change_at_dst(tmp_path):
    stamps = [d.tz_localize("Europe/Berlin").strftime("%Y-%m-%dT%H:%M:%S%z") for d in DST_DAYS]
    assert stamps[0].endswith("+0200") and stamps[-1].endswith("+0100")
    csv = "Date,v\n" + "".join(f"{t},{i}\n" for i, t in enumerate(stamps))
    out = _run(tmp_path, csv, WIDE + "date_format: '%Y-%m-%dT%H:%M:%S%z'\ntimezone: Europe/Berlin\n")
    assert out.clean["ds"].tolist() == list(DST_DAYS) and out.quarantine.empty


def test_parquet_with_a_tz_aware_timestamp_column(tmp_path):
    df = pd.DataFrame({"Date": DST_DAYS.tz_localize("Europe/Berlin").tz_convert("UTC"), "v": np.arange(20.0)})
    path = tmp_path / "tz.parquet"
    df.to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, WIDE + "timezone: Europe/Berlin\n"), today=TODAY)
    assert out.clean["ds"].tolist() == list(DST_DAYS) and out.clean["y"].tolist() == list(np.arange(20.0))


@pytest.mark.parametrize("zone", ["America/Chicago", "Asia/Kolkata", "UTC"])
def test_local_midnights_with_their_own_offset_are_the_days_written(tmp_path, zone):
    """pandas' ``to_parquet`` of a tz-aware column of local days, or a CSV of local midnights
    written with their offset ('2023-03-12T00:00:00-06:00', then -05:00 after the DST
    change): each is the day it says, without a ``timezone`` in the mapping (was: every
    row refused as "an instant, not a day"). Noon in the same zone is still refused."""
    days = pd.date_range("2023-03-01", periods=20, freq="D")  # US DST starts 2023-03-12
    stamps = days.tz_localize(zone)
    path = tmp_path / "local.parquet"
    pd.DataFrame({"Date": stamps, "v": np.arange(20.0)}).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    assert out.clean["ds"].tolist() == list(days) and out.clean["y"].tolist() == list(np.arange(20.0))
    csv = "Date,v\n" + "".join(f"{t.isoformat()},{i}\n" for i, t in enumerate(stamps))
    out = _run(tmp_path, csv, WIDE + "date_format: ISO8601\n")
    assert out.clean["ds"].tolist() == list(days) and out.quarantine.empty
    if zone != "UTC":
        noon = "Date,v\n" + "".join(f"{(t + pd.Timedelta(hours=12)).isoformat()},{i}\n" for i, t in enumerate(stamps))
        with pytest.raises(InputError, match="is an instant, not a day"):
            _run(tmp_path, noon, WIDE + "date_format: ISO8601\n", name="noon.csv")
        # midnight UTC written in another offset ('2023-03-01T18:00:00-06:00'): not moved to 2 March
        utc_midnights = days.tz_localize("UTC").tz_convert(zone)
        csv = "Date,v\n" + "".join(f"{t.isoformat()},{i}\n" for i, t in enumerate(utc_midnights))
        with pytest.raises(InputError, match="is an instant, not a day"):
            _run(tmp_path, csv, WIDE + "date_format: ISO8601\n", name="utc.csv")


def test_parquet_with_real_date_and_timestamp_columns(tmp_path):
    for name, col in (("date32", DAYS.date), ("timestamp", DAYS)):
        path = tmp_path / f"{name}.parquet"
        pd.DataFrame({"Date": col, "v": VALUES}).to_parquet(path)
        out = clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
        assert out.clean["ds"].tolist() == list(DAYS) and out.clean["y"].tolist() == VALUES.tolist(), name


@pytest.mark.parametrize("dates, fragment", [
    (DAYS.strftime("%d-%b-%Y"), "Date: cannot parse '01-Jan-2024' as %m/%d/%Y"),  # ISO dates: named as such
    (DAYS.tz_localize("America/Chicago") + pd.Timedelta(hours=12), "is an instant, not a day"),
])
def test_a_parquet_file_whose_every_row_is_rejected_says_why_and_names_it(tmp_path, dates, fragment):
    """The Parquet twin of the CSV case: pandera's dtype check on the empty remainder
    ("dtype('string[pyarrow]') on day_type", no file name) hid the rows' own reasons."""
    path = tmp_path / "all-bad.parquet"
    pd.DataFrame({"Date": dates, "day_type": "W", "v": VALUES}).to_parquet(path)
    mapping = _mapping(tmp_path, WIDE + "date_format: '%m/%d/%Y'\nday_type_column: day_type\n")
    with pytest.raises(InputError, match=f"all-bad.parquet: every one of the {len(VALUES)} rows was rejected, "
                                          r"e.g. line \d+: .*" + re.escape(fragment)):
        clean_source(str(path), mapping, today=TODAY)


def test_a_gzip_compressed_export_reads_as_what_it_holds(tmp_path):
    import gzip

    csv = _wide_csv()
    plain = _run(tmp_path, csv, WIDE, name="plain.csv")
    packed = _write(tmp_path, "export.csv.gz", gzip.compress(csv.encode()))
    out = clean_source(packed, _mapping(tmp_path, WIDE), today=TODAY)
    pd.testing.assert_frame_equal(out.clean, plain.clean)
    broken = _write(tmp_path, "broken.csv.gz", gzip.compress(csv.encode())[:40])
    with pytest.raises(InputError, match="broken.csv.gz: a gzip file that cannot be decompressed"):
        clean_source(broken, _mapping(tmp_path, WIDE), today=TODAY)


def test_bzip2_and_xz_exports_read_as_what_they_hold_zstd_is_named(tmp_path):
    """``export.csv.bz2`` and ``.xz`` (pandas reads both) were "not valid utf-8 text (byte 0x9e
    at offset 13, line 1); re-export it as UTF-8", a zstd file the same: what they are, unsaid."""
    import bz2
    import lzma

    csv = _wide_csv()
    plain = _run(tmp_path, csv, WIDE, name="plain.csv")
    for name, packed in (("export.csv.bz2", bz2.compress(csv.encode())), ("export.csv.xz", lzma.compress(csv.encode()))):
        out = clean_source(_write(tmp_path, name, packed), _mapping(tmp_path, WIDE), today=TODAY)
        pd.testing.assert_frame_equal(out.clean, plain.clean)
    zst = _write(tmp_path, "export.csv.zst", b"\x28\xb5\x2f\xfd" + bytes(40))
    with pytest.raises(InputError, match=r"export.csv.zst: a zstd-compressed file; decompress it \(zstd -d\)"):
        clean_source(zst, _mapping(tmp_path, WIDE), today=TODAY)


def test_a_zip_archive_is_refused_with_one_line(tmp_path):
    import zipfile

    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.csv", _wide_csv())
    with pytest.raises(InputError, match="export.zip: a ZIP archive; extract the CSV"):
        clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)


def test_wide_and_long_tables_with_times_of_day_give_the_same_days(tmp_path):
    stamps = [f"{d:%Y-%m-%d} 00:00:00" for d in DAYS]
    wide = "Date,v\n" + "".join(f"{t},{v}\n" for t, v in zip(stamps, VALUES))
    long = "date,series,value\n" + "".join(f"{t},v,{v}\n" for t, v in zip(stamps, VALUES))
    fmt = "date_format: '%Y-%m-%d %H:%M:%S'\n"
    a = _run(tmp_path, wide, WIDE + fmt, name="w.csv").clean
    b = _run(tmp_path, long, LONG + fmt, name="l.csv").clean
    pd.testing.assert_frame_equal(a, b)
    assert a["ds"].tolist() == list(DAYS)


# ----------------------------------------------------------------- 4. non-finite, implausible, out of range


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity", "1e400", "nan", "NaN"])
def test_non_finite_values_are_quarantined(tmp_path, cell):
    values = [str(v) for v in VALUES]
    values[20] = cell
    out = _run(tmp_path, "Date,v\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for d, v in zip(DAYS, values)), WIDE)
    assert len(out.quarantine) == 1 and out.quarantine["line"].tolist() == [22]
    assert f"v: {cell!r} is not" in _reasons(out)[0]
    assert np.isfinite(out.clean["y"]).all()


@pytest.mark.parametrize("cell", ["NULL", "N/A", "-", "#DIV/0!", "None"])
def test_a_missing_value_placeholder_is_named_as_one(tmp_path, cell):
    """An export's mark for no value ('NULL' from SQL, '#DIV/0!' from Excel, '-' from a report)
    was quarantined as "is not a number (decimal mark '.', no thousands separator; see
    decimal/thousands in the mapping)", sending the user to number formats; never read as 0."""
    values = [str(v) for v in VALUES]
    values[20] = cell
    out = _run(tmp_path, "Date,v\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for d, v in zip(DAYS, values)), WIDE)
    assert _reasons(out) == [f"v: {cell!r} is not a number: a placeholder for a missing value"]
    assert out.clean.loc[20, "is_imputed"] and out.clean.loc[20, "y"] != 0


def test_an_overflowing_but_finite_value_is_implausible(tmp_path):
    values = [str(v) for v in VALUES]
    values[30] = "1e308"
    out = _run(tmp_path, "Date,v\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for d, v in zip(DAYS, values)), WIDE)
    assert _reasons(out)[0].startswith("v: '1e308' is implausible (robust z-score")
    assert out.clean["y"].max() < 1000


def test_a_real_spike_is_kept(tmp_path):
    values = VALUES.copy()
    values[30] = 20 * values[30]  # a big day, not an error
    out = _run(tmp_path, _wide_csv(values), WIDE)
    assert out.quarantine.empty and out.clean["y"].max() == values[30]


def test_the_one_value_that_moves_in_a_flat_series_is_kept(tmp_path):
    """An intermittent series (zeros, a sale of 3 on one day in four years) and a price of 100
    that was 101 once: more than half the values equal, the MAD is 0, and the fallback scale
    (the mean absolute deviation) shrank with the share of equal days: each scored z 1,200 and
    was quarantined as implausible, its day imputed as 0 or 100: the only event, gone. An
    overflow among values that do move is still caught."""
    days = pd.date_range("2019-01-01", periods=1500)
    sales = np.zeros(1500)
    sales[700] = 3.0
    price = np.full(1500, 100.0)
    price[1400] = 101.0
    csv = "Date,sales,price\n" + "".join(f"{d:%Y-%m-%d},{a},{b}\n" for d, a, b in zip(days, sales, price))
    out = _run(tmp_path, csv, "date_column: Date\nvalue_columns: [sales, price]\n")
    assert out.quarantine.empty
    y = out.clean.pivot(index="ds", columns="series_id", values="y")
    assert y["sales"].tolist() == sales.tolist() and y["price"].tolist() == price.tolist()
    sales[900], sales[1000] = 5.0, 1e308
    out = _run(tmp_path, _wide_csv(sales, days), WIDE)
    assert [r.split(" is ")[0] for r in _reasons(out)] == ["v: '1e+308'"]
    # a typo alone in moving (100000000 for 100): measured against the level, still caught;
    # a big but plausible move (50,000 among 100s: z 499 < outlier_z 1,000) is kept
    price[1400] = 1e8
    price[1450] = 5e4
    out = _run(tmp_path, _wide_csv(price, days), WIDE)
    assert [r.split(" is ")[0] for r in _reasons(out)] == ["v: '100000000.0'"]


def test_max_value_from_the_mapping(tmp_path):
    out = _run(tmp_path, _wide_csv(), WIDE + "max_value: 109\n")
    assert len(out.quarantine) == (VALUES > 109).sum() > 0
    assert all("above max_value 109" in r for r in _reasons(out))


def test_max_value_per_column(tmp_path):
    csv = "Date,a,b\n" + "".join(f"{d:%Y-%m-%d},{v},{v * 100}\n" for d, v in zip(DAYS, VALUES))
    m = "date_column: Date\nvalue_columns: [a, b]\nmax_value: {a: 200, b: 10500}\nmax_imputed_share: 0.9\n"
    out = _run(tmp_path, csv, m)
    assert len(out.quarantine) == (VALUES * 100 > 10500).sum() > 0
    assert all(r.startswith("b: ") for r in _reasons(out))


@pytest.mark.parametrize("day", ["01/01/1200", "12/31/9999"])
def test_dates_out_of_range_are_quarantined(tmp_path, day):
    csv = _wide_csv(date_fmt="%m/%d/%Y") + f"{day},5\n"
    out = _run(tmp_path, csv, WIDE + "date_format: '%m/%d/%Y'\n")
    assert _reasons(out) == [f"Date: {day!r} is out of the supported range 1677-09-22..2262-04-11"]
    assert out.clean["ds"].tolist() == list(DAYS)


def test_parquet_infinities_are_quarantined(tmp_path):
    values = VALUES.copy()
    values[5] = np.inf
    path = tmp_path / "inf.parquet"
    pd.DataFrame({"Date": DAYS.strftime("%Y-%m-%d"), "v": values}).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    assert _reasons(out) == ["v: 'inf' is not finite (inf, nan or beyond the float range); quarantined"]


# ----------------------------------------------------------------- 5. imputed days are not actuals


def test_backtests_never_score_imputed_days(tmp_path):
    from seqcast.backtest import rolling_origin
    from seqcast.models import build

    values = [str(v) for v in VALUES]
    csv = "Date,v\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for i, (d, v) in enumerate(zip(DAYS, values))
                               if i not in (40, 41, 42))
    clean = _run(tmp_path, csv, WIDE).clean
    imputed = set(clean.loc[clean["is_imputed"], "ds"])
    assert len(imputed) == 3
    table = rolling_origin(build("seasonal_naive"), clean, h=3, start="2024-02-01", end="2024-02-25", n_jobs=1)
    assert not set(table["ds"]) & imputed
    assert len(table) == 25 * 3 - 9  # each imputed day would have been scored at 3 origins
    # without the flag the same days would be scored
    table = rolling_origin(build("seasonal_naive"), clean.drop(columns="is_imputed"), h=3,
                           start="2024-02-01", end="2024-02-25", n_jobs=1)
    assert set(table["ds"]) & imputed == imputed


# ----------------------------------------------------------------- 10. mapping files


@pytest.mark.parametrize(
    "line, message",
    [
        ("encoding: klingon", "encoding: unknown text encoding 'klingon'"),
        ("date_format: 12", "date_format: input should be a valid string (got 12)"),
        ("date_format: '%Q'", "date_format '%Q': 'Q' is a bad directive in format '%Q'"),
        ("date_format: dd/mm/yyyy", "date_format 'dd/mm/yyyy' has no strftime directive"),
        ("delimiter: ''", "delimiter must be one character"),
        ("delimiter: ';;'", "delimiter must be one character"),
        ("non_negative: 'no'", "non_negative: input should be a valid boolean (got 'no')"),
        ("timezone: Mars/Olympus", "timezone: unknown IANA time zone 'Mars/Olympus'"),
        ("decimal: x", "decimal must be '.' or ','"),
        ("thousands: '.'\ndecimal: '.'", "thousands must be one of"),
        ("outlier_z: -1", "outlier_z must be a positive number"),
        ("max_imputed_share: 2", "max_imputed_share must be between 0 and 1"),
        ("max_value: {nope: 3}", "max_value names column(s) ['nope']"),
        ("colour: red", "unknown mapping key(s) ['colour']"),
        ("non_negatve: false", "unknown mapping key(s) ['non_negatve']; 'non_negatve': did you mean 'non_negative'?"),
        ("2019: x\ncolour: red", "unknown mapping key(s) [2019, 'colour']"),  # was: internal error TypeError
        # were internal errors (LookupError, TypeError) or every row rejected at validation
        ("encoding: rot13", "encoding: 'rot13' is not a text encoding"),
        ("max_value: .nan", "max_value must be a number, not nan"),
        ("day_type_column: v", "column(s) ['v'] are named for more than one role"),
        ("total_column: Date", "column(s) ['Date'] are named for more than one role"),
    ],
)
def test_mapping_files_are_checked_with_clear_messages(tmp_path, line, message):
    from seqcast.ingest import load_mapping

    path = _mapping(tmp_path, f"date_column: Date\nvalue_columns: [v]\n{line}\n")
    with pytest.raises(InputError) as info:
        load_mapping(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_date_format_pandas_cannot_read_or_without_a_day_is_the_mappings_error(tmp_path, capsys):
    """``date_format: '%F'`` (GNU date's %Y-%m-%d) was "internal error ValueError: 'F' is a bad
    directive" from inside the validate task; ``'%d'`` read day 5 of each month as 1900-01-05,
    so 60 days became 31 "conflicting duplicates" and 2 rows of 1900, silently."""
    src = _write(tmp_path, "src.csv", _wide_csv(date_fmt="%d"))
    for fmt, message in [
        ("%F", "date_format '%F': 'F' is a bad directive in format '%F' (e.g. '%Y-%m-%d', '%d/%m/%Y', or "
               "ISO8601)"),
        ("%d", "date_format '%d' does not name a day: it needs a year (%Y or %y), a month (%m, %b) and a day of "
               "the month (%d), or a year and a day of the year (%j); without them each cell reads as a day of "
               "1900 or a month's first day"),
    ]:
        mapping = _mapping(tmp_path, WIDE + f"date_format: '{fmt}'\n")
        code, err = _cli(capsys, "run", "--source", src, "--mapping", mapping, "--data-dir", str(tmp_path / "d"))
        assert (code, err) == (1, [f"seqcast: error: {mapping}: {message}"])
    out = _run(tmp_path, _wide_csv(date_fmt="%Y-%j"), WIDE + "date_format: '%Y-%j'\n")  # a day of the year
    assert out.clean["ds"].tolist() == list(DAYS)


@pytest.mark.parametrize("values, message", [
    ("[{v: v}]", "value_columns: a list holds column names, got {'v': 'v'}; write a mapping of column -> "
                 "series_id as {bus: bus, rail_boardings: rail}"),
    ("[v, Date]", "column(s) ['Date'] are named for more than one role"),
])
def test_a_wide_mappings_value_columns_are_names_of_their_own(tmp_path, values, message):
    """``value_columns: [{v: v}]`` (a mapping written as a list item) was "internal error
    TypeError: unhashable type: 'dict'"; the date column given as a value column rejected
    every row as "'2024-01-01' is not a number", naming the data, not the mapping."""
    from seqcast.ingest import load_mapping

    path = _mapping(tmp_path, f"date_column: Date\nvalue_columns: {values}\n")
    with pytest.raises(InputError) as info:
        load_mapping(path)
    assert str(info.value) == f"{path}: {message}"


def test_date_column_must_be_one_name(tmp_path):
    from seqcast.ingest import load_mapping

    with pytest.raises(InputError, match=r"date_column: input should be a valid string \(got \['a', 'b'\]\)"):
        load_mapping(_mapping(tmp_path, "date_column: [a, b]\nvalue_columns: [v]\n"))


def test_mapping_objects_are_strict_in_code_too():
    with pytest.raises(ValueError):
        Mapping(date_column="d", value_columns={"v": "v"}, non_negative="no")


# ----------------------------------------------------------------- 11. misleading messages


def test_day_first_dates_in_a_month_first_export_are_named(tmp_path):
    csv = _wide_csv(date_fmt="%d/%m/%Y")
    with pytest.raises(InputError, match=r"src.csv: \d+ date\(s\) in 'Date' do not read as %m/%d/%Y but do as "
                                         r"%d/%m/%Y .* set date_format: '%d/%m/%Y'"):
        _run(tmp_path, csv, WIDE + "date_format: '%m/%d/%Y'\n")


def test_iso_dates_under_another_format_are_named(tmp_path):
    """The CTA table from the Socrata API (``resource/….csv``) writes ``2001-01-01T00:00:00.000``
    where the portal's export writes 01/01/2001: every row was rejected as "cannot parse
    '2024-01-01T00:00:00.000' as %m/%d/%Y", with no word of the format they are in. One typo
    in a file of good dates stays a quarantined row."""
    csv = _wide_csv(date_fmt="%Y-%m-%dT00:00:00.000")
    with pytest.raises(InputError, match=r"src.csv: 60 date\(s\) in 'Date' do not read as %m/%d/%Y but are ISO 8601 "
                                         r"\(e.g. '2024-01-01T00:00:00.000'\): set date_format: ISO8601"):
        _run(tmp_path, csv, WIDE + "date_format: '%m/%d/%Y'\n")
    out = _run(tmp_path, _wide_csv(date_fmt="%m/%d/%Y") + "2024-03-01,5\n", WIDE + "date_format: '%m/%d/%Y'\n")
    assert _reasons(out) == ["Date: cannot parse '2024-03-01' as %m/%d/%Y"]


def test_a_single_typo_date_is_just_quarantined(tmp_path):
    csv = _wide_csv(date_fmt="%m/%d/%Y") + "13/45/2024,5\n"
    out = _run(tmp_path, csv, WIDE + "date_format: '%m/%d/%Y'\n")
    assert _reasons(out) == ["Date: cannot parse '13/45/2024' as %m/%d/%Y"]


# ----------------------------------------------------------------- 9. the command line: one line, fast


def _cli(capsys, *argv) -> tuple[int, list[str]]:
    from seqcast.cli import main

    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(list(argv)))
    err = capsys.readouterr().err.strip().splitlines()
    return info.value.code, err


@pytest.mark.parametrize(
    "argv, code, fragment",
    [
        (["run", "--horizon", "0"], 2, "argument --horizon: must be at least 1 (got 0)"),
        (["run", "--horizon", "two"], 2, "argument --horizon: 'two' is not a whole number"),
        (["run", "--as-of", "2024-02-30"], 2, "argument --as-of: '2024-02-30' is not a date"),
        (["run", "--models", "nope"], 1, "--models: unknown model 'nope'"),
        # an empty list ran the whole night to "every model failed (no model ran)"; a name twice
        # stopped only inside the flow, after the server had started
        (["run", "--models", ""], 1, "--models: no model named; give one or more"),
        (["run", "--models", " , "], 1, "--models: no model named; give one or more"),
        (["run", "--models", "naive,sarima, naive"], 1, "--models: the same model is configured twice: ['naive']"),
        # the file replaced the list without a word
        (["run", "--models", "ets", "--models-file", "m.yaml"], 2, "--models and --models-file: give one"),
        # published as run_date=2999-01-01: the "latest" night for every reader, hiding the real ones
        (["run", "--as-of", "2999-01-01"], 2, "--as-of 2999-01-01 is after today"),
        # the flow's form refused it: `internal error ValidationError`
        (["run", "--horizon", "400"], 2, "--horizon: input should be less than or equal to 366 (got 400)"),
        # internal error NotADirectoryError
        (["run", "--data-dir", "/dev/null"], 2, "--data-dir /dev/null: a file, not a folder"),
        (["backtest", "--source", "x.csv", "--start", "soon", "--end", "2024-01-01"], 2, "argument --start"),
        (["backtest", "--source", "x.csv", "--start", "2024-01-01", "--end", "2024-01-02", "--h", "-1"], 2,
         "argument --h: must be at least 1"),
    ],
)
def test_usage_and_parameter_errors_are_one_line(capsys, argv, code, fragment):
    rc, err = _cli(capsys, *argv)
    assert rc == code and len(err) == 1, err
    assert err[0].startswith("seqcast: error: ") and fragment in err[0]


@pytest.mark.parametrize("argv", [
    ["run", "--source", ""], ["run", "--data-dir", " "], ["run", "--models-file", ""], ["run", "--mapping", ""],
    ["backtest", "--source", "", "--start", "2024-01-01", "--end", "2024-01-02"],
    ["forecasts", "show", "--data-dir", ""],
    ["forecasts", "show", "--series", ""],  # was: every series shown
    ["windows", "build", "--clean", "c.parquet", "--targets", ""],  # was: the default target
])
def test_an_empty_path_option_is_a_usage_error_not_its_default(capsys, argv):
    """`seqcast run --source "$SRC"` with SRC unset ran the night on the embedded sample data;
    `--data-dir ""` wrote raw/, published/, backtests/… into the current folder; `--models-file
    ""` ran the default models; `--mapping ""` said ".: cannot read mapping file (Is a
    directory)". Each is one usage line now, before any work."""
    option = next(a for a in argv if a.startswith("--") and argv[argv.index(a) + 1].strip() == "")
    code, err = _cli(capsys, *argv)
    what = {"--series": "a series id, or leave it out for every series",
            "--targets": "series ids, or leave it out for the default"}.get(option, "a path")
    assert (code, err) == (2, [f"seqcast: error: {option}: empty (an unset variable?); give {what}"])


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("", "file is empty"),
        ("Date,v\n", "no data rows (header only)"),
        ("Day,v\n2024-01-01,1\n", "missing required column(s) 'Date'"),
        ("Date;v\n2024-01-01;1\n", "the header looks ';'-delimited"),
    ],
)
def test_structural_problems_stop_before_prefect_starts(tmp_path, capsys, content, fragment):
    src = _write(tmp_path, "bad.csv", content)
    m = _mapping(tmp_path, WIDE)
    rc, err = _cli(capsys, "run", "--source", src, "--mapping", m, "--data-dir", str(tmp_path / "d"))
    assert rc == 1 and err == [err[0]] and err[0].startswith(f"seqcast: error: {src}: ") and fragment in err[0]
    assert not (tmp_path / "d" / "raw").exists()  # nothing ran


def test_bad_mapping_on_the_command_line_is_one_line(tmp_path, capsys):
    m = _mapping(tmp_path, WIDE + "encoding: klingon\n")
    rc, err = _cli(capsys, "run", "--source", _write(tmp_path, "a.csv", _wide_csv()), "--mapping", m)
    assert rc == 1 and len(err) == 1 and f"{m}: encoding: unknown text encoding 'klingon'" in err[0]


@pytest.mark.parametrize(
    "flag, name, content, fragment",
    [
        ("--mapping", "m.yaml", "date_column: service_date\nseries:\n  - bus\n  non_negative: true\n",
         "mapping file is not valid YAML/JSON (expected <block end>, but found '?' at line 4, column 3)"),
        ("--mapping", "m.yaml", "date_column: [service_date\n", "mapping file is not valid YAML/JSON ("),
        ("--mapping", "m.json", '{"date_column" "d"}', "Expecting ':' delimiter at line 1, column 16"),
        ("--models-file", "models.yaml", "models:\n  - name: sarima\n   params: {}\n", "not valid YAML/JSON ("),
    ],
)
def test_a_file_that_does_not_parse_is_one_line_with_where(tmp_path, capsys, flag, name, content, fragment):
    """PyYAML's message spans four lines (context, caret excerpt): the console gets one."""
    path = _write(tmp_path, name, content)
    rc, err = _cli(capsys, "run", flag, path, "--data-dir", str(tmp_path / "d"))
    assert rc == 1 and len(err) == 1, err
    assert err[0].startswith(f"seqcast: error: {path}: ") and fragment in err[0]


def test_a_windows_spec_that_does_not_parse_is_one_line(tmp_path, capsys):
    spec = _write(tmp_path, "spec.yaml", "input_length: [28\n")
    rc, err = _cli(capsys, "windows", "build", "--spec-file", spec, "--clean", str(tmp_path / "clean"))
    assert rc == 1 and len(err) == 1 and err[0].startswith(f"seqcast: error: {spec}: not valid YAML/JSON ("), err


@pytest.mark.parametrize("content, message", [
    ("input_length: 0\n", "window spec: input_length must be an integer >= 1, got 0"),
    ("kind: seq2vec\n1: x\n", "window spec: unknown field(s) [1]"),
    ("targets: 5\n", "window spec: targets must be a series id or a list of them, got 5"),
    ("- {h: 1}\n- {h: 0}\n", "spec 2: window spec: h must be an integer >= 1, got 0"),
])
def test_a_windows_spec_with_a_bad_field_names_the_file(tmp_path, capsys, content, message):
    """A spec file that parsed but held a bad field said "window spec: input_length must be …"
    without the file; a number as a key (``1: x``) or as the targets was "internal error
    TypeError"."""
    spec = _write(tmp_path, "spec.yaml", content)
    rc, err = _cli(capsys, "windows", "build", "--spec-file", spec, "--clean", str(tmp_path / "clean"))
    assert (rc, err) == (1, [f"seqcast: error: {spec}: {message}"])


def test_every_user_error_reaches_the_console_as_one_line(capsys, monkeypatch):
    from seqcast import cli
    from seqcast.errors import InputError

    def handler(args):
        raise InputError("x.csv: first line\n   second line")

    monkeypatch.setattr(cli, "build_parser", lambda: _parser_with(handler))
    rc, err = _cli(capsys, "go")
    assert rc == 1 and err == ["seqcast: error: x.csv: first line second line"]


def _parser_with(handler):
    import argparse

    parser = argparse.ArgumentParser(prog="seqcast")
    sub = parser.add_subparsers()
    sub.add_parser("go").set_defaults(handler=handler)
    return parser


def test_forecasts_show_names_an_unknown_series(tmp_path, capsys):
    from seqcast.published import COLUMNS

    folder = tmp_path / "published" / "forecasts"
    folder.mkdir(parents=True)
    table = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    table = pd.concat([table, pd.DataFrame({"series_id": ["bus"], "mean": [1.0]})], ignore_index=True)
    (folder / "run_date=2024-01-01").mkdir()
    table.drop(columns="run_date").to_parquet(folder / "run_date=2024-01-01" / "part-0.parquet")
    rc, err = _cli(capsys, "forecasts", "show", "--data-dir", str(tmp_path), "--series", "nope")
    assert rc == 1 and err == [f"seqcast: error: {tmp_path}/published/forecasts: no series 'nope' in the "
                               "published forecasts (series: bus)"]
    rc, err = _cli(capsys, "forecasts", "show", "--data-dir", str(tmp_path / "empty"))
    assert rc == 1 and "no published forecasts" in err[0] and "run `seqcast run` first" in err[0]


# ----------------------------------------------------------------- end to end: what gets published


@pytest.fixture(scope="module")
def harness(prefect_harness):
    return prefect_harness


def _nightly(tmp_path, csv: str, mapping: str, as_of: date, name="src.csv"):
    from flows.nightly import NightlyParams, nightly, spec_for

    params = NightlyParams(source=_write(tmp_path, name, csv), mapping=_mapping(tmp_path, mapping),
                           data_dir=str(tmp_path / "data"), as_of=as_of, horizon=7,
                           models=[spec_for("seasonal_naive")])
    summary = nightly(params)
    return summary, read_published_file(summary["published"])


def test_decimal_comma_file_publishes_the_exact_values(tmp_path, harness):
    csv = _wide_csv(sep=";", fmt=lambda v: f"{v}".replace(".", ","))
    summary, table = _nightly(tmp_path, csv, WIDE + "delimiter: ';'\ndecimal: ','\n", date(2024, 2, 29))
    # seasonal naive: each of the next 7 days is the value a week before
    assert table.sort_values("h")["mean"].tolist() == VALUES[-7:].tolist()
    assert summary["rows_quarantined"] == 0


def test_a_non_finite_last_day_in_one_series_does_not_block_the_panel(tmp_path, harness):
    rows = [f"{d:%Y-%m-%d},{s},{v}" for s in ("a", "b") for d, v in zip(DAYS, VALUES)]
    rows[59] = rows[59].rsplit(",", 1)[0] + ",inf"  # last day of series a
    summary, table = _nightly(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG, date(2024, 2, 29))
    assert summary["rows_quarantined"] == 1
    quarantine = pd.read_parquet(summary["quarantine_path"])
    assert "'inf' is not finite" in quarantine["reason"].iloc[0]
    assert sorted(table["series_id"].unique()) == ["a", "b"]
    b = table[table["series_id"] == "b"].sort_values("h")
    assert b["mean"].tolist() == VALUES[-7:].tolist()
    a = table[table["series_id"] == "a"].sort_values("h")  # a ends a day earlier: its cutoff is 02-28
    assert a["cutoff"].iloc[0] == pd.Timestamp("2024-02-28") and a["mean"].tolist() == VALUES[-8:-1].tolist()
    assert np.isfinite(table["mean"]).all()


def test_weekly_data_stops_the_night_and_publishes_nothing(tmp_path, harness):
    days = pd.date_range("2023-01-02", periods=60, freq="W-MON")
    with pytest.raises(CleaningError, match=r"src.csv: not daily: .*\(weekly\)"):
        _nightly(tmp_path, _wide_csv(np.arange(60.0), days), WIDE, date(2024, 6, 1))
    assert not (tmp_path / "data" / "published" / "forecasts").exists() or not any(
        (tmp_path / "data" / "published" / "forecasts").iterdir())


def test_read_table_reads_bytes_not_only_files():
    """The property test below drives this through the CLI; here the in-memory reader."""
    from seqcast.ingest import read_table

    df = read_table(io.BytesIO(b"Date,v\n2024-01-01,1\n").getvalue(), Mapping(date_column="Date",
                    value_columns={"v": "v"}), "mem.csv")
    assert df["v"].tolist() == ["1"] and df["line"].tolist() == [2]


# ----------------------------------------------------------------- wide tables: one bad cell, one bad column


def _two_columns(a: list[str], b: list[str]) -> str:
    return "Date,a,b\n" + "".join(f"{d:%Y-%m-%d},{x},{y}\n" for d, x, y in zip(DAYS, a, b))


TWO = "date_column: Date\nvalue_columns: [a, b]\nmax_value: {a: 1000, b: 1000}\n"


def test_a_bad_value_in_a_wide_table_sets_aside_that_cell_only(tmp_path):
    """Text, a negative count, a value above max_value and an implausible value each set
    aside their own cell; the same row's other series keeps its real value (not imputed);
    a row with no value left is rejected whole."""
    a = [f"{v}" for v in VALUES]
    b = [f"{v + 50}" for v in VALUES]
    a[5], b[12], a[20], b[30], a[40], b[40] = "n/a", "-3", "5000", "", "x", "y"
    out = _run(tmp_path, _two_columns(a, b), TWO + "max_imputed_share: 0.5\n")
    q = out.quarantine.set_index("line")
    assert q["scope"].to_dict() == {7: "a", 14: "b", 22: "a", 32: "b", 42: "row"}
    assert "a: 'n/a' is not a number" in q.at[7, "reason"] and "negative value" in q.at[14, "reason"]
    assert "above max_value 1000" in q.at[22, "reason"] and "b: missing value" in q.at[32, "reason"]
    assert "a: 'x'" in q.at[42, "reason"] and "b: 'y'" in q.at[42, "reason"]
    assert (out.report["rows_quarantined"], out.report["rows_partly_quarantined"]) == (1, 4)
    assert out.report["rows_kept"] == 59
    clean = out.clean.set_index(["series_id", "ds"])
    for sid, i in [("b", 5), ("a", 12), ("b", 20), ("a", 30)]:  # the row's other value: real, kept
        assert not clean.at[(sid, DAYS[i]), "is_imputed"]
        assert clean.at[(sid, DAYS[i]), "y"] == float((a if sid == "a" else b)[i])
    for sid, i in [("a", 5), ("b", 12), ("a", 20), ("b", 30), ("a", 40), ("b", 40)]:
        assert clean.at[(sid, DAYS[i]), "is_imputed"]
    assert out.report["values_imputed"] == 6 and out.report["days_imputed"] == 5


def test_one_broken_column_of_a_wide_table_does_not_block_the_others(tmp_path):
    a = [f"{v}" for v in VALUES]
    out = _run(tmp_path, _two_columns(a, ["broken"] * len(a)), TWO)
    assert out.report["series"] == ["a"] and out.report["series_quarantined"] == ["b"]
    assert "series b: no value on any of the 60 days" in out.report["series_quarantine_reasons"][0]
    assert out.clean["y"].tolist() == VALUES.tolist() and not out.clean["is_imputed"].any()
    assert (out.quarantine["scope"] == "b").all() and len(out.quarantine) == 60
    # a long stretch of one column: that series dropped with its gap, the other kept
    b = [f"{v}" for v in VALUES]
    b[10:25] = [""] * 15
    out = _run(tmp_path, _two_columns(a, b), TWO + "max_imputed_share: 0.5\n")
    assert out.report["series"] == ["a"]
    assert "series b: gap of 15 missing day(s) from 2024-01-11" in out.report["series_quarantine_reasons"][0]
    # every column broken: one clear error
    with pytest.raises(InputError, match="src.csv: every one of the 60 rows was rejected, e.g. line 2: a: '-'"):
        _run(tmp_path, _two_columns(["-"] * 60, ["?"] * 60), TWO)
    b = [f"{v}" for v in VALUES]
    b[1::2] = [""] * 30  # every other day: each row keeps a value, series b has too many gaps
    a[::2] = [""] * 30
    with pytest.raises(CleaningError, match="src.csv: no series survives cleaning, e.g. series a: 29 of 59"):
        _run(tmp_path, _two_columns(a, b), TWO)


def test_a_repeated_parquet_index_does_not_mix_up_rows(tmp_path):
    frame = pd.DataFrame({"Date": DAYS, "a": VALUES, "b": VALUES + 50}, index=[0, 1] * 30)
    frame.iloc[3, frame.columns.get_loc("a")] = -1.0  # a Parquet file's "line" is its row number
    path = tmp_path / "src.parquet"
    frame.to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, TWO), today=TODAY)
    assert out.quarantine["line"].tolist() == [4] and out.quarantine["scope"].tolist() == ["a"]
    assert out.clean.loc[out.clean["is_imputed"], "series_id"].tolist() == ["a"]


def test_the_thousands_ambiguity_is_judged_per_series_in_a_long_table(tmp_path):
    """A series written with decimals must not hide another series' '769.069'."""
    rows = [f"2024-01-{d:02d},bus,{700000 + (d * 7919) % 90000}" for d in range(1, 20)] + ["2024-01-20,bus,769.069"]
    rows += [f"2024-01-{d:02d},temp,{d}.5" for d in range(1, 21)]
    out = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG + "non_negative: false\n")
    assert len(out.quarantine) == 1 and "'769.069' is ambiguous" in _reasons(out)[0]
    assert out.clean.groupby("series_id").size().to_dict() == {"bus": 19, "temp": 20}


def test_blanks_at_either_end_of_a_wide_column_are_not_filled(tmp_path):
    """A series whose column starts late or stops early spans its own values: its last
    real day stays its last day (the freshness check sees it), nothing made up before or after."""
    a = [f"{v}" for v in VALUES]
    b = [f"{v}" for v in VALUES]
    b[:3], b[-5:] = [""] * 3, [""] * 5
    out = _run(tmp_path, _two_columns(a, b), TWO)
    spans = out.clean.groupby("series_id")["ds"].agg(["min", "max", "size"])
    assert spans.loc["a"].tolist() == [DAYS[0], DAYS[-1], 60]
    assert spans.loc["b"].tolist() == [DAYS[3], DAYS[-6], 52]
    assert not out.clean["is_imputed"].any() and out.report["values_imputed"] == 0


def test_a_repeated_day_that_differs_only_by_a_set_aside_cell_is_one_day(tmp_path):
    a = [f"{v}" for v in VALUES]
    b = [f"{v}" for v in VALUES]
    csv = _two_columns(a, b) + f"{DAYS[20]:%Y-%m-%d},{a[20]},\n"  # the same day again, b blank
    out = _run(tmp_path, csv, TWO)
    assert out.report["conflicting_duplicate_rows"] == 0 and out.report["duplicates_merged"] == 1
    assert not out.clean["is_imputed"].any()
    assert out.quarantine["scope"].tolist() == ["b"] and out.report["rows_quarantined"] == 0
    # a real disagreement is still a conflict: both rows out, the day imputed
    out = _run(tmp_path, _two_columns(a, b) + f"{DAYS[20]:%Y-%m-%d},{a[20]},999\n", TWO)
    assert out.report["conflicting_duplicate_rows"] == 2
    # ... for its own series only: a keeps its value that day, b is set aside and imputed
    assert out.quarantine["scope"].tolist() == ["b", "b"] and out.report["rows_quarantined"] == 0
    assert "conflicting duplicate: series b" in _reasons(out)[0]
    clean = out.clean.set_index(["series_id", "ds"])
    assert not clean.at[("a", DAYS[20]), "is_imputed"] and clean.at[("a", DAYS[20]), "y"] == float(a[20])
    assert clean.at[("b", DAYS[20]), "is_imputed"]


TOTAL = "date_column: Date\nvalue_columns: [a, b]\ntotal_column: t\n"


def _with_total(a: list[str], b: list[str], t: list[str]) -> str:
    return "Date,a,b,t\n" + "".join(f"{d:%Y-%m-%d},{x},{y},{z}\n" for d, x, y, z in zip(DAYS, a, b, t))


def test_a_bad_total_or_a_bad_part_keeps_the_other_values(tmp_path):
    """The total is derived (dropped after the cross-check): a blank or unparseable total sets
    aside only itself; a negative part with the total unchanged sets aside only that part
    (the total cannot be checked without it); a total that disagrees with good parts still
    rejects the row (which part is wrong is unknown)."""
    a = [f"{v:.0f}" for v in VALUES * 10]
    b = [f"{v:.0f}" for v in VALUES * 5]
    t = [str(int(x) + int(y)) for x, y in zip(a, b)]
    t[4], t[6], t[8] = "", "n/a", "1"
    b[10] = "-" + b[10]
    out = _run(tmp_path, _with_total(a, b, t), TOTAL)
    q = out.quarantine.set_index("line")
    assert q["scope"].to_dict() == {6: "t", 8: "t", 10: "row", 12: "b"}
    assert q.at[10, "reason"] == "t != a + b" and "b: negative value" in q.at[12, "reason"]
    clean = out.clean.set_index(["series_id", "ds"])
    imputed = clean.index[clean["is_imputed"]].tolist()
    assert sorted(imputed) == sorted([("a", DAYS[8]), ("b", DAYS[8]), ("b", DAYS[10])])
    # the whole total column blank: the parts publish, every row noted
    out = _run(tmp_path, _with_total(a, b, [""] * 60), TOTAL)
    assert len(out.clean) == 120 and out.report["rows_partly_quarantined"] == 60


def test_a_long_series_whose_every_row_is_bad_is_reported_not_silently_gone(tmp_path):
    rows = [f"2024-01-{d:02d},ok,{100 + d}" for d in range(1, 21)] + [f"2024-01-{d:02d},zed,oops" for d in range(1, 21)]
    out = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG)
    assert out.report["series"] == ["ok"] and out.report["series_quarantined"] == ["zed"]
    assert out.report["series_quarantine_reasons"][0].startswith(
        "series zed: every one of its 20 rows was quarantined, e.g. value: 'oops' is not a number")


def test_a_repeated_day_with_another_day_type_is_rejected_whole(tmp_path):
    """Which copy is the real day is unknown when the day type differs: both rows out."""
    body = "".join(f"{d:%Y-%m-%d},{'W' if d.dayofweek < 5 else 'U'},{v},{v + 1}\n" for d, v in zip(DAYS, VALUES))
    csv = "Date,dt,a,b\n" + body + f"{DAYS[22]:%Y-%m-%d},A,{VALUES[22]},{VALUES[22] + 1}\n"  # a Tuesday
    out = _run(tmp_path, csv, TWO + "day_type_column: dt\n")
    assert out.quarantine["scope"].tolist() == ["row", "row"] and out.report["rows_quarantined"] == 2
    assert "conflicting duplicate: " + f"{DAYS[22]:%Y-%m-%d}" in _reasons(out)[0]


def test_a_filled_day_reads_only_the_past(tmp_path):
    """The seasonal fill is the same weekday a week before: changing any later value leaves
    it as it is (the mean of the weeks before and after leaked the week after's actual into
    the seasonal-naive backtest forecast of that day)."""
    a = [f"{v}" for v in VALUES]
    b = [f"{v + 7 * i}" for i, v in enumerate(VALUES)]
    b[20] = ""
    out = _run(tmp_path, _two_columns(a, b), TWO)
    later = list(b)
    later[27] = "999"
    again = _run(tmp_path, _two_columns(a, later), TWO)
    for o in (out, again):
        got = o.clean.set_index(["series_id", "ds"]).loc[("b", DAYS[20])]
        assert got["is_imputed"] and got["y"] == float(b[13])


def test_asking_for_a_dropped_series_says_why_it_was_dropped(tmp_path, capsys):
    a = [f"{v}" for v in VALUES]
    src = _write(tmp_path, "broken.csv", _two_columns(a, ["x"] * 60))
    mapping = _mapping(tmp_path, TWO)
    code, lines = _cli(capsys, "backtest", "--source", src, "--mapping", mapping, "--series", "b",
                       "--model", "naive", "--start", "2024-02-01", "--end", "2024-02-10", "--h", "1")
    assert code == 1 and lines == [f"seqcast: error: {src}: series b was dropped while cleaning: "
                                   "no value on any of the 60 days (every cell was quarantined)"]


# ----------------------------------------------------------------- helper 19: ids and names as written


@pytest.mark.parametrize("header", ["Date,v", '"Date","v"'])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_byte_order_mark_and_a_ragged_row_keep_the_header(tmp_path, header, newline):
    """A BOM (Excel's "CSV UTF-8") before a file with one row of extra fields: the reader of
    ragged files kept it in the first column's name, and the whole file stopped with
    "missing required column(s) 'Date' (found '\\ufeffDate', 'v')"."""
    csv = "\ufeff" + header + "\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for d, v in zip(DAYS, VALUES))
    csv = (csv + "2024-03-01,5,oops\n").replace("\n", newline)
    out = _run(tmp_path, csv, WIDE)
    assert out.quarantine[["line", "stage", "reason"]].values.tolist() == [[62, "read", "expected 2 fields, found 3"]]
    assert out.clean["y"].tolist() == VALUES.tolist()


def test_parquet_integers_with_a_null_are_not_read_as_floats(tmp_path):
    """pandas reads an int64 column holding a null as float64: ids 7 became '7.0' (and
    2**53 + 1 became ...992), dates 20240101 '20240101.0' (every row rejected)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(DAYS)
    table = pa.table({
        "ds": pa.array([int(f"{d:%Y%m%d}") for d in DAYS] * 2 + [None], type=pa.int64()),
        "sid": pa.array([7] * n + [2**53 + 1] * n + [None], type=pa.int64()),
        "y": pa.array(list(range(n)) + [None] + list(range(1, n)) + [1], type=pa.int64()),
    })
    path = tmp_path / "ints.parquet"
    pq.write_table(table, path)
    mapping = "date_column: ds\ndate_format: '%Y%m%d'\nseries_column: sid\nvalue_column: y\nnon_negative: false\n"
    out = clean_source(str(path), _mapping(tmp_path, mapping), today=TODAY)
    assert sorted(out.clean["series_id"].unique()) == ["7", "9007199254740993"]
    assert out.clean["ds"].min() == DAYS[0] and len(out.clean) == 2 * n - 1  # one null value
    assert out.clean[out.clean["series_id"] == "7"]["y"].tolist() == list(map(float, range(n)))
    assert out.quarantine["line"].tolist() == [n + 1, 2 * n + 1]
    assert "y: missing value" in _reasons(out)[0] and "sid: empty series id" in _reasons(out)[1]


@pytest.mark.parametrize("written, name", [("007", "007"), ("ON", "ON"), ("no", "no"), ("1.10", "1.10"),
                                           ("2024-01-31", "2024-01-31"), ("'007'", "007")])
def test_mapping_column_names_and_series_ids_are_read_as_written(tmp_path, written, name):
    """YAML 1.1 reads a plain 007 as 7, ON / no as booleans, 1.10 as 1.1 and 2024-01-31 as a
    date: a column named ON was 'missing' (the mapping asked for 'True'), a series id 007
    was published as '7'."""
    from seqcast.ingest import load_mapping

    m = load_mapping(_mapping(tmp_path, f"date_column: Date\nvalue_columns: {{{written}: {written}}}\n"
                                        f"max_value: {{{written}: 5}}\n"))
    assert m.value_columns == {name: name} and m.max_value == {name: 5.0}
    m = load_mapping(_mapping(tmp_path, f"date_column: {written}\nvalue_columns: [v]\n"
                                        f"categorical_columns: [{written}]\n"))
    assert m.date_column == name and m.categorical_columns == (name,)
    csv = f"Date,{name}\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for d, v in zip(DAYS, VALUES))
    wide = _run(tmp_path, csv, f"date_column: Date\nvalue_columns: [{written}]\n")
    assert wide.clean["series_id"].unique().tolist() == [name] and wide.clean["y"].tolist() == VALUES.tolist()
    # the other keys keep their YAML types; null stays null
    m = load_mapping(_mapping(tmp_path, "date_column: Date\nvalue_columns: [v]\nmax_value: 5\nnon_negative: no\n"
                                        "day_type_column: ~\n"))
    assert m.max_value == 5.0 and m.non_negative is False and m.day_type_column is None


@pytest.mark.parametrize("zone", ["America/Chicago", "Pacific/Auckland", "UTC"])
def test_plain_iso_dates_keep_their_day_in_any_zone(tmp_path, zone):
    """'2024-01-01' under ISO8601 ends like an offset ('-01'): it was read as midnight UTC,
    then converted to the mapping's zone, so west of UTC every day moved back one (a
    Parquet date32 column, always read as ISO 8601, too). A plain date is that day."""
    mapping = WIDE + f"date_format: ISO8601\ntimezone: {zone}\n"
    out = _run(tmp_path, _wide_csv(), mapping)
    assert out.clean["ds"].tolist() == list(DAYS) and out.clean["y"].tolist() == VALUES.tolist()
    path = tmp_path / "date32.parquet"
    pd.DataFrame({"Date": DAYS.date, "v": VALUES}).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, mapping), today=TODAY)
    assert out.clean["ds"].tolist() == list(DAYS) and out.clean["y"].tolist() == VALUES.tolist()
    # instants are still converted: 05:00Z is 23:00 the day before in Chicago, 18:00 in Auckland
    stamps = [f"{d:%Y-%m-%d}T05:00:00Z" for d in DAYS]
    out = _run(tmp_path, "Date,v\n" + "".join(f"{t},{v}\n" for t, v in zip(stamps, VALUES)), mapping)
    shift = pd.Timedelta(days=-1 if zone == "America/Chicago" else 0)
    assert out.clean["ds"].tolist() == list(DAYS + shift)


@pytest.mark.parametrize("values, fragment", [
    ("{a: x, b: x}", "value_columns gives series id(s) ['x'] to more than one column (a, b)"),
    ("{a: ds, b: b}", "value_columns: series id(s) ['ds'] are names seqcast's wide frame already uses"),
])
def test_two_columns_never_share_one_series(tmp_path, values, fragment):
    """Two columns mapped to one id: the second column's values silently replaced the first's."""
    from seqcast.ingest import load_mapping

    path = _mapping(tmp_path, f"date_column: Date\nvalue_columns: {values}\n")
    with pytest.raises(InputError) as info:
        load_mapping(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


def test_source_columns_named_like_the_quarantines_own(tmp_path):
    """A transit export's ``line`` (the series), a ``stage`` or ``reason`` column: the reader's
    own ``line`` column could not be added (an internal error), and a ragged row's ``reason``
    overwrote the quarantine's. They are read as ``line (source)``..., the mapping's
    ``line`` meaning that column."""
    rows = [f"{d:%Y-%m-%d},{ln},{100 + i + 50 * k},draft,ok" for k, ln in enumerate(["Red", "Blue"])
            for i, d in enumerate(DAYS)]
    rows[3] = rows[3].replace(",103,", ",oops,")
    rows[70] += ",extra"
    csv = "date,line,riders,stage,reason\n" + "\n".join(rows) + "\n"
    mapping = "date_column: date\nseries_column: line\nvalue_column: riders\ncategorical_columns: [stage]\n"
    out = _run(tmp_path, csv, mapping + "max_imputed_share: 0.5\n")
    assert sorted(out.clean["series_id"].unique()) == ["Blue", "Red"]
    red = out.clean[out.clean["series_id"] == "Red"]
    assert red["y"].tolist()[:3] == [100.0, 101.0, 102.0] and red["is_imputed"].sum() == 1
    q = out.quarantine
    assert q[["line", "stage", "scope"]].values.tolist() == [[5, "validate", "row"], [72, "read", "row"]]
    assert q["reason"].tolist()[1] == "expected 5 fields, found 6" and "'oops' is not a number" in q["reason"][0]
    assert q[["line (source)", "stage (source)", "reason (source)"]].values.tolist() == [
        ["Red", "draft", "ok"], ["Blue", "draft", "ok"]]


def test_quarantined_rows_keep_their_line_after_a_quoted_line_break(tmp_path):
    """A quoted cell holding a line break is one record over two lines; ``\\u2028`` and ``\\x85``
    (a cp1252 '…' read as latin-1) are text to pandas. Counting lines with ``str.splitlines``
    put every later quarantined row on the wrong line."""
    notes = [""] * 60
    notes[3], notes[6], notes[9] = '"two\nlines"', "a\u2028b", "c\x85d"
    csv = "date,series,value,note\n" + "".join(
        f"{d:%Y-%m-%d},s,{'bad' if i == 20 else v},{n}\n" for i, (d, v, n) in enumerate(zip(DAYS, VALUES, notes)))
    out = _run(tmp_path, csv, LONG)
    assert out.quarantine["line"].tolist() == [23] and out.quarantine["value"].tolist() == ["bad"]
    assert out.quarantine["note"].tolist() == [""] and len(out.clean) == 60


def test_a_quote_never_closed_stops_the_run_not_one_row_for_the_rest(tmp_path, capsys):
    """A stray quote opening a cell (``2024-01-10,"109.7``) swallowed every later line into
    that cell: 'rows in 10' for a file of 60, one quarantine row ("'109.7\\n2024-01-11,…' is
    not a number") for 51 lines, and a night published from the first 9 days. A quote inside
    a cell (``10"0``) is still that cell's text, quarantined alone."""
    lines = _wide_csv().splitlines()
    lines[10] = lines[10].replace(",", ',"')
    src = _write(tmp_path, "src.csv", "\n".join(lines) + "\n")
    code, err = _cli(capsys, "run", "--source", src, "--mapping", _mapping(tmp_path, WIDE),
                     "--data-dir", str(tmp_path / "d"))
    assert (code, err) == (1, [f"seqcast: error: {src}: a quote opened on line 11 is never closed: the 51 line(s) "
                               "from there to the end of the file would read as one cell (a stray '\"'?); remove "
                               "or close it"])
    lines = _wide_csv().splitlines()
    lines[10] = lines[10].replace(",", ',10"')
    out = _run(tmp_path, "\n".join(lines) + "\n", WIDE)
    assert out.report["rows_in"] == 60 and out.quarantine["line"].tolist() == [11]
    # closed ten lines later by a second stray quote: was one quarantine row for 11 lines, then
    # "gap of 11 missing day(s) … exceeds the limit of 7", the quote never named
    lines = _wide_csv().splitlines()
    lines[10], lines[20] = lines[10].replace(",", ',"'), lines[20] + '"'
    with pytest.raises(InputError, match=r"src.csv: the record on line 11 runs over 11 lines \(to line 21\): a "
                                         r"quote opened in it closes only there \(a stray '\"'\?\)"):
        _run(tmp_path, "\n".join(lines) + "\n", WIDE)


def test_a_row_with_fewer_fields_is_quarantined_not_padded(tmp_path):
    """pandas pads a short row with '': a row without its last field (the total) passed as a
    row whose total was left blank, and a short long-table row was quarantined for an empty
    cell. Like a row with more fields, it is quarantined as read, with the field count."""
    rows = [f"{d:%Y-%m-%d},{v},{v + 1},{2 * v + 1}" for d, v in zip(DAYS, VALUES)]
    rows[10] = rows[10].rsplit(",", 1)[0]  # the total lost
    out = _run(tmp_path, "Date,a,b,t\n" + "\n".join(rows) + "\n", TOTAL)
    assert out.quarantine[["line", "stage", "reason"]].values.tolist() == [[12, "read", "expected 4 fields, found 3"]]
    assert out.clean.groupby("series_id")["is_imputed"].sum().to_dict() == {"a": 1, "b": 1}
    rows = [f"{d:%Y-%m-%d},{v},{s}" for s in ("a", "b") for d, v in zip(DAYS, VALUES)]
    rows[10] = f"{DAYS[10]:%Y-%m-%d},999"
    out = _run(tmp_path, "date,value,series\n" + "\n".join(rows) + "\n", LONG)
    assert sorted(out.clean["series_id"].unique()) == ["a", "b"]
    assert out.quarantine[["line", "stage", "reason"]].values.tolist() == [[12, "read", "expected 3 fields, found 2"]]
    # a header with a trailing delimiter: the unnamed column no row fills is read by nobody
    csv = "Date,v,\n" + "".join(f"{d:%Y-%m-%d},{v}\n" for d, v in zip(DAYS, VALUES))
    out = _run(tmp_path, csv, WIDE)
    assert out.quarantine.empty and out.clean["y"].tolist() == VALUES.tolist()



def test_a_parquet_files_named_index_is_its_columns(tmp_path):
    """``df.set_index("Date").to_parquet(...)`` stores the index as a column (DuckDB and Spark
    see it); pandas alone restores it as the index, so the file was refused with
    "missing required column(s) 'Date' (found 'v')"."""
    path = tmp_path / "indexed.parquet"
    pd.DataFrame({"Date": DAYS, "v": VALUES}).set_index("Date").to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    assert out.clean["ds"].tolist() == list(DAYS) and out.clean["y"].tolist() == VALUES.tolist()
    long = pd.DataFrame({"series": np.repeat(["a", "b"], 60), "date": np.tile(DAYS, 2),
                         "value": np.concatenate([VALUES, VALUES + 1])})
    long.set_index(["series", "date"]).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, LONG), today=TODAY)
    assert out.clean.groupby("series_id")["y"].first().to_dict() == {"a": VALUES[0], "b": VALUES[0] + 1}
    assert len(out.clean) == 120 and out.quarantine.empty


def test_a_parquet_index_named_like_a_column_is_read_once_or_refused(tmp_path):
    """``set_index("Date", drop=False)`` keeps the date as the index and as a column:
    reading it was ``internal error ValueError: cannot insert Date, already exists``.
    Equal, they are one column; different, one line (which is the date?)."""
    path = tmp_path / "both.parquet"
    frame = pd.DataFrame({"Date": DAYS, "v": VALUES})
    frame.set_index("Date", drop=False).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    assert out.clean["ds"].tolist() == list(DAYS) and out.clean["y"].tolist() == VALUES.tolist()
    long = pd.DataFrame({"series": np.repeat(["a", "b"], 60), "date": np.tile(DAYS, 2),
                         "value": np.concatenate([VALUES, VALUES + 1])})
    long.set_index(["series", "date"], drop=False).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, LONG), today=TODAY)
    assert len(out.clean) == 120 and out.quarantine.empty
    frame.set_index(frame["Date"] + pd.Timedelta(days=1)).to_parquet(path)  # index 'Date' differs
    with pytest.raises(InputError, match=r"both.parquet: the index and a column are both named 'Date' and differ"):
        clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)


# ----------------------------------------------------------------- 12. more inputs from users' reports


@pytest.mark.parametrize("cell", ["2024-03", "2024-3", "2024/03", "2024"])
def test_an_iso_year_or_month_is_not_read_as_its_first_day(tmp_path, cell):
    """Under ``date_format: ISO8601`` pandas reads ``2024-03`` as 2024-03-01 and ``2024`` as
    2024-01-01: a monthly total (or a footer's year) was published as one day's value, or
    silently dropped as that day's exact duplicate. A cell without a day is quarantined."""
    csv = _wide_csv() + f"{cell},{VALUES[0]}\n"
    out = _run(tmp_path, csv, WIDE + "date_format: ISO8601\n")
    assert _reasons(out) == [f"Date: {cell!r} is a year or a month, not a day (ISO 8601 reduced precision)"]
    assert out.clean["ds"].tolist() == list(DAYS) and out.report["exact_duplicates_dropped"] == 0


def test_a_csv_with_old_mac_line_ends_reads_like_any_other(tmp_path):
    """A CSV whose lines end in a lone CR (classic Mac OS, some Excel for Mac exports):
    pandas reads it, but the header check's csv reader refused the whole file
    ("malformed CSV header (new-line character seen in unquoted field ...)")."""
    csv = _wide_csv().replace("\n", "\r") + "2024-03-01,oops\r"
    out = _run(tmp_path, csv, WIDE)
    assert out.clean["ds"].tolist() == list(DAYS) and out.clean["y"].tolist() == VALUES.tolist()
    assert out.quarantine["line"].tolist() == [62] and "'oops' is not a number" in _reasons(out)[0]


@pytest.mark.parametrize("cell", ["\uff11\uff12\uff13", "\u0661\u0662\u0663"])
def test_non_ascii_digits_are_refused_with_the_real_reason(tmp_path, cell):
    """Full-width or Arabic-Indic digits (an IME, a localised export) passed the number pattern
    (Python's ``\\d`` is any Unicode digit), then failed the conversion: the quarantine said
    "'１２３' is not a number (nan)", about a cell that is not nan."""
    csv = _wide_csv() + f"2024-03-01,{cell}\n"
    out = _run(tmp_path, csv, WIDE)
    assert _reasons(out) == [f"v: {cell!r} is not a number (decimal mark '.', no thousands separator; "
                             "see decimal/thousands in the mapping)"]
    assert out.clean["y"].tolist() == VALUES.tolist()


@pytest.mark.parametrize("whole", [[], ["999"], ["999", "12"]])
def test_a_column_of_grouped_numbers_is_ambiguous_with_few_or_no_whole_ones(tmp_path, whole):
    """A German export of a route that carries 1.000 to 999.999 riders a day writes every
    value with '.' grouping thousands: with fewer than three whole numbers beside them the
    values were read as 1.234 riders, a forecast published 1000x too low. Without a decimal
    anywhere in the series such cells are ambiguous; ``thousands: '.'`` reads them as whole
    numbers, ``thousands: ''`` (no separator, said explicitly) as decimals."""
    grouped = [f"{1 + (d * 7919) % 900}.{(d * 31) % 1000:03d}" for d in range(1, 21 - len(whole))]
    cells = whole + grouped
    rows = [f"2024-01-{d:02d},bus,{c}" for d, c in enumerate(cells, start=1)]
    rows += [f"2024-01-{d:02d},rail,{500 + d}" for d in range(1, 21)]
    csv = "date,series,value\n" + "\n".join(rows) + "\n"
    out = _run(tmp_path, csv, LONG)
    assert len(out.quarantine) == len(grouped) and all("is ambiguous" in r for r in _reasons(out))
    bus = out.clean[out.clean["series_id"] == "bus"]
    assert bus["y"].tolist() == [float(c) for c in whole]  # the whole numbers only, none read as 1.234
    as_thousands = _run(tmp_path, csv, LONG + "thousands: '.'\ndecimal: ','\n")
    bus = as_thousands.clean[as_thousands.clean["series_id"] == "bus"]
    assert bus["y"].tolist() == [float(c.replace(".", "")) for c in cells]
    as_decimals = _run(tmp_path, csv, LONG + "thousands: ''\n")
    bus = as_decimals.clean[as_decimals.clean["series_id"] == "bus"]
    assert as_decimals.quarantine.empty and bus["y"].tolist() == [float(c) for c in cells]


def test_three_decimals_below_one_are_never_taken_for_grouped_thousands(tmp_path):
    """'0.125' cannot be a number with '.' grouping thousands (a first group has no leading
    0): a column of rates written to three decimals reads as it is, nothing quarantined."""
    rows = [f"2024-01-{d:02d},rate,0.{100 + 37 * d:03d}" for d in range(1, 21)]
    out = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG)
    assert out.quarantine.empty
    assert out.clean["y"].tolist() == [float(f"0.{100 + 37 * d:03d}") for d in range(1, 21)]


@pytest.mark.parametrize("scale, mapping", [(1, WIDE + "decimal: ','\n"), (3, WIDE)])
def test_parquet_decimal_columns_are_typed_numbers(tmp_path, scale, mapping):
    """pyarrow reads a ``decimal128`` column as Python Decimals, which were taken for text: under
    a mapping with ``decimal: ','`` every value was refused ('50.0' is not a number), and a
    ``decimal(10, 3)`` column reads '500.000', a cell of the '769.069' kind."""
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    cells = [decimal.Decimal(str(v)).quantize(decimal.Decimal(1).scaleb(-scale)) for v in VALUES]
    path = tmp_path / "decimals.parquet"
    pq.write_table(pa.table({"Date": pa.array(DAYS.date), "v": pa.array(cells, pa.decimal128(10, scale))}), path)
    out = clean_source(str(path), _mapping(tmp_path, mapping), today=TODAY)
    assert out.quarantine.empty, _reasons(out)
    assert out.clean["y"].tolist() == [float(c) for c in cells]


def test_a_repeated_header_line_is_named_not_taken_for_a_series(tmp_path):
    """Two exports joined with ``cat a.csv b.csv``: the second header is a row whose series id
    is ``series``; it was reported as a dropped series 'series' (a warning and a critical
    stale_data alert about a series that does not exist) and quarantined as a bad date and value."""
    rows = [f"{d:%Y-%m-%d},a,{int(v)}" for d, v in zip(DAYS, VALUES)]
    csv = "date,series,value\n" + "\n".join(rows[:30]) + "\ndate,series,value\n" + "\n".join(rows[30:]) + "\n"
    out = _run(tmp_path, csv, LONG)
    assert out.quarantine["line"].tolist() == [32]
    assert _reasons(out) == ["a repeated header line (files joined together?)"]
    assert out.report["series"] == ["a"] and out.report["series_quarantined"] == []
    assert out.clean["y"].tolist() == [float(int(v)) for v in VALUES]


def test_excel_serial_day_numbers_are_named_as_such(tmp_path):
    """A date column saved as General in Excel holds day numbers (45292 is 2024-01-01): every row
    was rejected as "cannot parse '45292' as %Y-%m-%d", with no word of why; never read as a date."""
    csv = "Date,v\n" + "".join(f"{(d - pd.Timestamp('1899-12-30')).days},{v}\n" for d, v in zip(DAYS, VALUES))
    with pytest.raises(InputError, match=r"every one of the 60 rows was rejected, e.g. line 2: Date: cannot parse "
                                         r"'45292' as %Y-%m-%d: it looks like an Excel serial day number"):
        _run(tmp_path, csv, WIDE)


def test_compact_dates_must_be_zero_padded(tmp_path):
    """Under ``%Y%m%d`` pandas reads unpadded fields (``f"{y}{m}{d}"``): '2024111' (11 January)
    became 1 November and '2024121' (21 January) 1 December, silently. A cell of a format
    whose fields touch must be zero-padded; '20240111' reads as always."""
    csv = _wide_csv(date_fmt="%Y%m%d") + "2024311,5\n"  # 2024-03-11 or 2024-03-01-ish: refused
    out = _run(tmp_path, csv, WIDE + "date_format: '%Y%m%d'\n")
    assert out.clean["ds"].tolist() == list(DAYS) and out.clean["y"].tolist() == VALUES.tolist()
    assert _reasons(out) == ["Date: '2024311' is not zero-padded as %Y%m%d wants (e.g. '2024111' may be "
                             "2024-01-11 or 2024-11-01)"]
    unpadded = "Date,v\n" + "".join(f"{d.year}{d.month}{d.day},{v}\n" for d, v in zip(DAYS, VALUES))
    with pytest.raises(InputError, match=r"every one of the 60 rows was rejected.*'202411' is not zero-padded"):
        _run(tmp_path, unpadded, WIDE + "date_format: '%Y%m%d'\n")


def test_an_excel_workbook_is_named_as_one(tmp_path, capsys):
    """An .xlsx is a ZIP archive inside; "extract the CSV or Parquet file from it" sent the
    user looking for a CSV that is not there. An old .xls was "not valid utf-8 text (byte 0xd0
    at offset 0, line 1); re-export it as UTF-8", as if it were text."""
    import zipfile

    path = tmp_path / "riders.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    code, err = _cli(capsys, "run", "--source", str(path), "--mapping", _mapping(tmp_path, WIDE))
    assert code == 1 and len(err) == 1
    assert err[0] == (f"seqcast: error: {path}: an Excel workbook, not a CSV or Parquet file; save the sheet "
                      "as CSV (UTF-8) or Parquet and pass that")
    old = _write(tmp_path, "riders.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))  # Excel 97-2003
    code, err = _cli(capsys, "run", "--source", old, "--mapping", _mapping(tmp_path, WIDE))
    assert code == 1 and err == [f"seqcast: error: {old}: an Excel workbook, not a CSV or Parquet file; save "
                                 "the sheet as CSV (UTF-8) or Parquet and pass that"]


def test_a_file_of_another_format_under_a_csv_or_parquet_name_is_named_for_what_it_is(tmp_path, capsys):
    """A CSV saved as ``x.parquet`` was "unreadable Parquet file (Parquet magic bytes not found in
    footer. Either the file is corrupted or this is not a parquet file.)"; an Arrow file named
    .csv "not valid utf-8 text (byte 0xff at offset 8 …)", a download that returned an HTML
    page "missing required column(s) … (found '<!DOCTYPE html>…')", a UTF-16 export the same
    "not valid utf-8" or, without its byte order mark, columns 'D\\x00a\\x00t\\x00e\\x00'."""
    import pyarrow as pa
    import pyarrow.feather as feather

    frame = pd.DataFrame({"Date": DAYS.strftime("%Y-%m-%d"), "v": VALUES})
    arrow, parquet = io.BytesIO(), io.BytesIO()
    feather.write_feather(pa.Table.from_pandas(frame), arrow)
    frame.to_parquet(parquet, index=False)
    cases = {
        "riders.parquet": (_wide_csv(), "not a Parquet file but text, a CSV? (its first line: 'Date,v'); "
                           "give it a .csv name"),
        "cut.parquet": (parquet.getvalue()[:-40], "a Parquet file cut short: it starts like one but its footer "
                        "is missing (an interrupted download or copy?); write or copy it again"),
        "arrow.csv": (arrow.getvalue(), "not a CSV file but an Arrow IPC (Feather) file; convert it to Parquet "
                      "or CSV and pass that"),
        "page.csv": ("<!DOCTYPE html>\n<html><body>Sign in</body></html>\n", "not a CSV file but an HTML page "
                     "(a download that returned a web page, e.g. a login or error page?)"),
        "u16.csv": (_wide_csv().encode("utf-16"), "UTF-16 text (it starts with a UTF-16 byte order mark), not "
                    "utf-8; save it as CSV (UTF-8) or set encoding: utf-16 in a mapping file"),
        "u16le.csv": (_wide_csv().encode("utf-16-le"), "the header holds NUL bytes: not utf-8 text (UTF-16 "
                      "without a byte order mark?); save it as CSV (UTF-8) or set encoding (utf-16-le) in a "
                      "mapping file"),
    }
    mapping = _mapping(tmp_path, WIDE)
    for name, (data, message) in cases.items():
        path = _write(tmp_path, name, data)
        code, err = _cli(capsys, "run", "--source", path, "--mapping", mapping, "--data-dir", str(tmp_path / "d"))
        assert (code, err) == (1, [f"seqcast: error: {path}: {message}"]), name
    # what reads stays read: a Parquet file named .csv, a UTF-16 file its mapping declares
    both = _write(tmp_path, "typed.csv", parquet.getvalue())
    assert clean_source(both, _mapping(tmp_path, WIDE), today=TODAY).clean["y"].tolist() == VALUES.tolist()
    u16 = _write(tmp_path, "u16.csv", _wide_csv().encode("utf-16"))
    out = clean_source(u16, _mapping(tmp_path, WIDE + "encoding: utf-16\n"), today=TODAY)
    assert out.clean["y"].tolist() == VALUES.tolist()


def test_forecasts_show_json_keeps_every_digit_and_ids_as_written(tmp_path, capsys):
    """pandas' to_json keeps 10 significant digits: a forecast of 961.1483301234623 read back
    961.1483301235 from `--format json` (exact in csv and parquet); NaN intervals are null."""
    import json

    from seqcast.published import publish_forecasts

    means = [961.1483301234623, 123456789.12345679, 0.1 + 0.2]
    rows = pd.DataFrame({"series_id": ["001", "1e3", "TRUE"], "ds": pd.Timestamp("2024-12-31"),
                         "cutoff": pd.Timestamp("2024-12-30"), "h": 1, "model": "naive", "mean": means,
                         "lo-80": [950.0, np.nan, 0.0], "reason": "test"})
    publish_forecasts(rows, tmp_path, run_date=date(2024, 12, 30), run_id="r", data_hash="x")
    code, _ = _cli(capsys, "forecasts", "show", "--data-dir", str(tmp_path), "--format", "json",
                   "--output", str(tmp_path / "f.json"))
    records = json.loads((tmp_path / "f.json").read_text())
    assert code == 0 and [r["mean"] for r in records] == means
    assert [r["series_id"] for r in records] == ["001", "1e3", "TRUE"] and records[1]["lo-80"] is None
    assert records[0]["h"] == 1 and records[0]["ds"] == "2024-12-31" and records[0]["created_at"].endswith("Z")


@pytest.mark.parametrize("entry", ["{name: sarima, params: [1, 0, 0]}",
                                   "{name: combination, params: {members: [{name: sarima, params: 3}]}}"])
def test_model_params_that_are_not_a_mapping_are_one_line(tmp_path, capsys, entry):
    """`params: [1, 0, 0]` (the order, without its key) was `internal error TypeError: cannot
    convert dictionary update sequence element #0 to a sequence`."""
    path = _write(tmp_path, "models.yaml", f"- {entry}\n")
    code, err = _cli(capsys, "run", "--models-file", path, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"seqcast: error: {path}: model 1: model spec 'sarima': params must be a mapping")


@pytest.mark.parametrize("entry, message", [
    ("{name: sarima, params: {1: 2}}", "model spec 'sarima': params: a hyperparameter is named by text, got 1"),
    ("{name: sarima, 1: x, foo: y}", "model spec 'sarima': unknown key(s) [1, 'foo'] (hyperparameters go under params)"),
])
def test_a_number_as_a_models_file_key_is_one_line(tmp_path, capsys, entry, message):
    """A number where a hyperparameter or spec key belongs (YAML reads ``1:`` as an int) was
    "internal error TypeError: keywords must be strings" or "'<' not supported between
    instances of 'str' and 'int'"."""
    path = _write(tmp_path, "models.yaml", f"- {entry}\n")
    code, err = _cli(capsys, "run", "--models-file", path, "--data-dir", str(tmp_path / "d"))
    assert (code, err) == (1, [f"seqcast: error: {path}: model 1: {message}"])


@pytest.mark.parametrize("params, message", [
    ("{loss: rmse}", "gru: loss must be one of huber, mae, mse, got 'rmse'"),
    ("{optimizer: rmsprop}", "gru: optimizer must be one of adam, adamw, sgd, got 'rmsprop'"),
    ("{scaling: log}", "gru: scaling must be one of none, constant, standard, got 'log'"),
    ("{valid_days: thirty}", "gru: valid_days must be an integer >= 0, got 'thirty'"),
    ("{warm_start: 'yes'}", "gru: warm_start must be true or false, got 'yes'"),
])
def test_a_network_setting_it_does_not_know_is_one_line_before_training(tmp_path, capsys, params, message):
    """`loss: rmse` was accepted, then failed every backtest origin of the night at fit time
    (`valid_days: thirty` was `internal error ValueError`)."""
    path = _write(tmp_path, "models.yaml", f"- seasonal_naive\n- name: gru\n  params: {params}\n")
    code, err = _cli(capsys, "run", "--models-file", path, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and err == [f"seqcast: error: {path}: model 2: {message}"]


def test_an_empty_or_cut_holiday_calendar_is_refused_not_switched_off(tmp_path, capsys):
    """`--holidays ""` (an unset `$REGION`) turned the calendar off, though the flow's own form
    says empty means the mapping's; `US-` read as the whole US without a word."""
    from flows.nightly import NightlyParams, _holidays

    src = str(tmp_path / "never-read.csv")
    code, err = _cli(capsys, "run", "--holidays", " ", "--source", src, "--data-dir", str(tmp_path / "d"))
    assert code == 2 and err == ["seqcast: error: --holidays: empty; give COUNTRY or COUNTRY-SUBDIV (US-IL), "
                                 "or none for no calendar"]
    code, err = _cli(capsys, "run", "--holidays", "US-", "--source", src, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and err == ["seqcast: error: holidays 'US-': no subdivision after '-' (COUNTRY or "
                                 "COUNTRY-SUBDIV: US or US-IL)"]
    assert _holidays(NightlyParams(holidays="")) == "US-IL"  # the CTA mapping's calendar
    assert _holidays(NightlyParams(holidays="none")) is None


def test_the_published_reason_says_what_happened_to_the_baseline():
    """A `--models naive,sarima` night published "baseline failed tonight" (it was never a
    candidate); a 20-day series whose baseline failed its oldest origins (too short then)
    published "no recent backtest scores yet" beside the scores it had."""
    from seqcast.champion import choose

    scores = pd.DataFrame({"series_id": ["a", "a", "young"], "model": ["naive", "sarima", "seasonal_naive"],
                           "mae": [20.0, 15.0, 21.7], "n": [50, 50, 13], "failed": [0, 0, 6]})
    available = pd.DataFrame({"series_id": ["a", "a", "young"], "model": ["naive", "sarima", "seasonal_naive"]})
    reasons = choose(scores, available).set_index("series_id")["reason"]
    assert reasons["a"] == "seasonal_naive is not among the candidates; best recent backtest MAE 15 among the rest"
    assert reasons["young"] == ("no model has a recent backtest without failed origins: seasonal_naive published "
                                "(MAE 21.7 where it could forecast)")
    failed = pd.concat([scores, pd.DataFrame({"series_id": ["a"], "model": ["seasonal_naive"], "mae": [np.nan],
                                              "n": [0], "failed": [1]})], ignore_index=True)
    assert choose(failed, available).set_index("series_id")["reason"]["a"].startswith("baseline failed tonight; ")


def test_a_one_day_series_whose_baseline_failed_is_not_said_to_lack_it():
    """A long table's series with one day (a store opened yesterday): seasonal naive, a
    candidate, failed on it (fewer than 7 observations) and had no backtest origin either;
    naive was published with "seasonal_naive is not among the candidates and no model has
    backtest scores", which it was."""
    from seqcast.champion import choose

    scores = pd.DataFrame(columns=["series_id", "model", "mae", "n", "failed"])
    available = pd.DataFrame({"series_id": ["single"], "model": ["naive"]})
    labels = ["seasonal_naive", "naive", "sarima"]
    chosen = choose(scores, available, candidates=labels).set_index("series_id")
    assert chosen.loc["single", "model"] == "naive"
    assert chosen.loc["single", "reason"] == "baseline failed tonight and no model has backtest scores"
    left_out = choose(scores, available, candidates=["naive", "sarima"]).set_index("series_id")
    assert left_out.loc["single", "reason"] == ("seasonal_naive is not among the candidates and no model has "
                                                "backtest scores")


def test_the_rows_line_accounts_for_the_rows_after_as_of():
    """`seqcast run --as-of` on a file reaching past it printed `rows in 620, kept 552,
    quarantined 0`: 68 rows unexplained on the console and the run page."""
    from flows.nightly import _after_as_of
    from seqcast.commands.run import rows_line

    summary = {"rows_in": 620, "rows_kept": 552, "rows_after_as_of": 68, "rows_quarantined": 0,
               "days_imputed": 0, "run_date": "2024-11-30"}
    assert rows_line(summary) == "rows in 620, kept 552, after as-of 68 (not yet known), quarantined 0, days imputed 0"
    assert _after_as_of(summary) == " (68 more after as-of 2024-11-30: not yet known)"
    assert rows_line({**summary, "rows_after_as_of": 0, "rows_kept": 620}) == (
        "rows in 620, kept 620, quarantined 0, days imputed 0")


@pytest.mark.parametrize("flag, name, content, fragment", [
    ("--models-file", "models.yaml", "- name: sarima\n  params: {order: [1, 0, 0], order: [2, 0, 0]}\n",
     "not valid YAML/JSON (found key 'order' given twice at line 2, column 30)"),
    ("--mapping", "m.yaml", LONG + "date_column: day\n",
     "mapping file is not valid YAML/JSON (found key 'date_column' given twice at line 4, column 1)"),
    ("--mapping", "m.json", '{"date_column": "date", "date_column": "day"}',
     "mapping file is not valid YAML/JSON (key 'date_column' given twice)"),
])
def test_a_key_given_twice_is_refused_not_the_last_one(tmp_path, capsys, flag, name, content, fragment):
    """PyYAML and json keep the last of two equal keys without a word: the models file above
    fitted sarima (2,0,0), the mapping read the column `day`."""
    path = _write(tmp_path, name, content)
    code, err = _cli(capsys, "run", flag, path, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and err == [f"seqcast: error: {path}: {fragment}"]


@pytest.mark.parametrize("content, fragment", [
    ("- name: gru\n  params: {epochs: 010}\n",
     "'010' is an octal number in YAML (8); write it without the leading 0, or quote it for text at line 2"),
    ("- name: sarima\n  params: {order: [1, 0, 0], seasonal_order: [0, 1, 1, 1:30]}\n",
     "'1:30' is a base-60 number in YAML (90); write it without the colon, or quote it for text at line 2"),
])
def test_a_number_yaml_reads_other_than_written_is_refused(tmp_path, capsys, content, fragment):
    """YAML 1.1 reads `010` as octal 8 and `1:30` as 90: a models file trained 8 epochs."""
    path = _write(tmp_path, "models.yaml", content)
    code, err = _cli(capsys, "run", "--models-file", path, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and len(err) == 1 and err[0].startswith(f"seqcast: error: {path}: not valid YAML/JSON ({fragment}")


def test_a_param_yaml_reads_other_than_written_is_refused(capsys):
    code, err = _cli(capsys, "backtest", "--source", "x.csv", "--start", "2019-03-01", "--end", "2019-03-02",
                     "--model", "gru", "--param", "epochs=010")
    assert code == 1 and err == ["seqcast: error: --param epochs: '010' is an octal number in YAML (8); write it "
                                 "without the leading 0, or quote it for text"]


def test_a_models_file_key_beside_the_list_is_refused_not_ignored(tmp_path, capsys):
    """`models: [sarima]` with `horizon: 7` beside it ran with the command's horizon: the key did nothing."""
    path = _write(tmp_path, "models.yaml", "models: [sarima]\nhorizon: 7\n")
    code, err = _cli(capsys, "run", "--models-file", path, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and err == [f"seqcast: error: {path}: unknown key(s) ['horizon']; a models file holds a "
                                 "list, or models: [...] only"]


def test_a_combination_member_named_twice_is_refused(tmp_path, capsys):
    """`members: [sarima, sarima]` (a typo for [sarima, gru]) published SARIMA alone as `combination`."""
    path = _write(tmp_path, "models.yaml", "- {name: combination, params: {members: [sarima, sarima]}}\n")
    code, err = _cli(capsys, "run", "--models-file", path, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and err == [f"seqcast: error: {path}: model 1: combination: members: the same model is "
                                 "configured twice: ['sarima(1,0,0)(0,1,1,7)']"]


@pytest.mark.parametrize("argv, name, fragment", [
    (["run", "--models-file"], "models.yaml", "the models file is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8"),
    (["run", "--mapping"], "m.yaml", "mapping file is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8"),
    (["windows", "build", "--spec-file"], "spec.yaml",
     "the window-spec file is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8"),
])
def test_a_config_file_saved_as_cp1252_is_one_line(tmp_path, capsys, argv, name, fragment):
    """A `# café` comment saved by a Windows editor (cp1252) was `internal error UnicodeDecodeError`."""
    body = {"models.yaml": b"- sarima\n", "m.yaml": LONG.encode(), "spec.yaml": b"input_length: 28\n"}[name]
    path = _write(tmp_path, name, body[: body.index(b"\n") + 1] + b"# caf\xe9\n" + body[body.index(b"\n") + 1:])
    src = _write(tmp_path, "src.csv", "date,series,value\n2024-01-01,a,1\n")
    code, err = _cli(capsys, *argv, path, "--source", src, *(["--data-dir", str(tmp_path / "d")] if "run" in argv else []))
    assert code == 1 and err == [f"seqcast: error: {path}: {fragment}"]


def test_a_json_mapping_with_a_byte_order_mark_reads(tmp_path):
    from seqcast.ingest import load_mapping

    path = _write(tmp_path, "m.json", b'\xef\xbb\xbf{"date_column": "date", "series_column": "series", '
                                      b'"value_column": "value"}')
    assert load_mapping(path).series_column == "series"  # was: not valid YAML/JSON (Unexpected UTF-8 BOM …)


def test_a_mappings_unknown_holiday_calendar_names_the_mapping_before_prefect_starts(tmp_path, capsys):
    """`holidays: XX` in a mapping stopped the night inside the flow (a server started, 13 s)
    with a line that did not say which file held it."""
    m = _mapping(tmp_path, LONG + "holidays: XX\n")
    src = _write(tmp_path, "src.csv", "date,series,value\n2024-01-01,a,1\n")
    code, err = _cli(capsys, "run", "--source", src, "--mapping", m, "--data-dir", str(tmp_path / "d"))
    assert code == 1 and err == [f"seqcast: error: {m}: holidays 'XX': unknown country 'XX' (ISO 3166 codes such "
                                 "as US, GB, DE, optionally -SUBDIV: US-IL)"]
    assert not (tmp_path / "d" / "raw").exists()  # nothing ran


def test_a_stray_copy_of_a_nights_folder_is_named(tmp_path, capsys):
    """A Finder copy `run_date=2024-12-30 copy` beside the nights made every read
    `internal error DateParseError`, the nights before it included."""
    import shutil

    from seqcast.published import publish_forecasts

    rows = pd.DataFrame({"series_id": ["001"], "ds": pd.Timestamp("2024-12-31"), "cutoff": pd.Timestamp("2024-12-30"),
                         "h": 1, "model": "naive", "mean": [1.0], "reason": "test"})
    path = publish_forecasts(rows, tmp_path, run_date=date(2024, 12, 30), run_id="r", data_hash="x")
    shutil.copytree(path.parent, path.parent.with_name("run_date=2024-12-30 copy"))
    code, err = _cli(capsys, "forecasts", "show", "--data-dir", str(tmp_path))
    assert code == 1 and err == [f"seqcast: error: {tmp_path}/published/forecasts: 'run_date=2024-12-30 copy' is not "
                                 "a night's folder (run_date=YYYY-MM-DD); move it out of the forecast table"]
    code, _ = _cli(capsys, "forecasts", "show", "--data-dir", str(tmp_path), "--run-date", "2024-12-30")
    assert code == 0  # one night by its date reads as before


def test_series_ids_with_surrounding_spaces_are_one_series_and_it_is_said(tmp_path):
    """'bus ' and 'bus' (an export that started padding its ids) are one series, not two,
    and the report says so (was: merged without a word)."""
    rows = [f"2024-01-{d:02d},{'bus ' if d > 15 else 'bus'},{1000 + d}" for d in range(1, 21)]
    rows += [f"2024-01-{d:02d}, rail,{500 + d}" for d in range(1, 21)]
    out = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG)
    assert sorted(out.clean["series_id"].unique()) == ["bus", "rail"] and len(out.clean) == 40
    assert out.report["series_ids_trimmed"] == ["' rail' read as 'rail' (20 rows)",
                                                "'bus ' read as 'bus' (5 rows), as are 15 rows already 'bus'"]
    clean = [f"2024-01-{d:02d},bus,{1000 + d}" for d in range(1, 21)]
    assert _run(tmp_path, "date,series,value\n" + "\n".join(clean) + "\n", LONG).report["series_ids_trimmed"] == []


def test_hourly_rows_are_refused_as_not_daily_with_the_reason(tmp_path):
    """Hourly readings (a Parquet timestamp column, or a CSV under a format with the time):
    each day's 24 rows were conflicting duplicates, every cell quarantined, and the run
    stopped with 'no series survives cleaning … every cell was quarantined'. Now each row
    says why; in a long table only that series goes, the daily ones publish."""
    hours = pd.date_range("2024-01-01", periods=60 * 24, freq="h")
    path = tmp_path / "hourly.parquet"
    pd.DataFrame({"Date": hours, "v": np.arange(len(hours), dtype=float)}).to_parquet(path)
    with pytest.raises(InputError, match=r"hourly.parquet: every one of the 1440 rows was rejected, e.g. line 1: "
                       r"several rows a day at different times \(24 on 2024-01-01: '2024-01-01T00:00:00', "
                       r"'2024-01-01T01:00:00', …\): seqcast forecasts daily series; aggregate"):
        clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    daily = [f"{d:%Y-%m-%d} 00:00:00,daily,{v}" for d, v in zip(DAYS, VALUES)]
    hourly = [f"{t:%Y-%m-%d %H:%M:%S},hourly,{i % 24}" for i, t in enumerate(hours)]
    csv = "date,series,value\n" + "\n".join(daily + hourly) + "\n"
    out = _run(tmp_path, csv, LONG + "date_format: '%Y-%m-%d %H:%M:%S'\n")
    assert out.clean["series_id"].unique().tolist() == ["daily"] and out.clean["y"].tolist() == VALUES.tolist()
    assert out.report["series_quarantined"] == ["hourly"] and len(out.quarantine) == len(hours)
    assert set(_reasons(out)) == {"several rows a day at different times (24 on 2024-01-01: '2024-01-01 00:00:00', "
                                  "'2024-01-01 01:00:00', …) in series 'hourly': seqcast forecasts daily series; "
                                  "aggregate the file to one row a day (sum or mean) first"}


def test_parquet_binary_columns_are_read_not_a_crash(tmp_path):
    """A BINARY column (a UUID, a WKB geometry of the station) beside the data was
    ``internal error UnicodeDecodeError``; strings stored as BINARY (older Spark, Impala)
    are the series ids they hold."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "binary.parquet"
    pq.write_table(pa.table({"Date": pa.array(DAYS.date, pa.date32()), "v": VALUES,
                             "uuid": pa.array([bytes([255, i % 256]) * 8 for i in range(60)], pa.binary(16))}), path)
    out = clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    assert out.clean["y"].tolist() == VALUES.tolist() and out.quarantine.empty
    pq.write_table(pa.table({"date": pa.array(np.tile(DAYS.date, 2), pa.date32()),
                             "series": pa.array([b"route/9"] * 60 + ["café".encode()] * 60, pa.binary()),
                             "value": np.concatenate([VALUES, VALUES + 1])}), path)
    out = clean_source(str(path), _mapping(tmp_path, LONG), today=TODAY)
    assert sorted(out.clean["series_id"].unique()) == ["café", "route/9"] and out.quarantine.empty


def test_an_as_of_before_the_data_says_so_not_that_rows_were_rejected(tmp_path):
    """``--as-of`` before the first day said 'every one of the 60 rows was rejected (all are
    after as-of …)', and with a few bad rows before it counted the later rows as rejected
    too: rows after as-of are not yet known, never rejected."""
    with pytest.raises(InputError, match=r"^[^\n]*src.csv: no row is dated on or before --as-of 2023-12-31: all 60 "
                       r"are after it \(the data start on 2024-01-01\)$"):
        _run(tmp_path, _wide_csv(), WIDE, as_of=date(2023, 12, 31))
    bad = _wide_csv().replace(f"2024-01-01,{VALUES[0]}", "2024-01-01,x").replace(f"2024-01-02,{VALUES[1]}", "2024-01-02,y")
    with pytest.raises(InputError, match=r"src.csv: every one of the 2 rows up to --as-of 2024-01-02 \(the 58 after "
                       r"it are not yet known\) was rejected, e.g. line 2: v: 'x' is not a number"):
        _run(tmp_path, bad, WIDE, as_of=date(2024, 1, 2))


@pytest.mark.parametrize("sid", ["price $10-$20", "x_$^$", r"a$\frac$b"])
def test_series_ids_with_dollar_signs_are_plotted_as_written(tmp_path, sid):
    """matplotlib reads text between two ``$`` as math: ``x_$^$`` raised ValueError in the
    plot task (the night failed after publishing), ``price $10-$20`` came out in italics."""
    from seqcast.plots import plot_errors_by_horizon, plot_forecasts

    clean = pd.DataFrame({"series_id": sid, "ds": DAYS, "y": VALUES, "is_imputed": False})
    fc = pd.DataFrame({"series_id": sid, "ds": pd.date_range(DAYS[-1] + pd.Timedelta(days=1), periods=3),
                       "cutoff": DAYS[-1], "h": [1, 2, 3], "model": "naive", "mean": 100.0,
                       "lo-80": 95.0, "hi-80": 105.0})
    assert plot_forecasts(clean, fc, tmp_path / "f.png").stat().st_size > 0
    errors = pd.DataFrame({"series_id": sid, "model": "naive", "h": [1, 2], "mae": [1.0, 2.0]})
    assert plot_errors_by_horizon(errors, tmp_path / "e.png").stat().st_size > 0


def test_series_ids_with_markdown_characters_stay_one_cell_on_the_run_page():
    """A compound id ``store 12|sku 9`` split its row of the run page's champions table
    into one more column (every figure after it under the wrong header); ``*promo*`` was
    set in italics."""
    from flows.nightly import _champions_markdown

    summary = {"champions": [{"series_id": "store 12|sku 9", "model": "naive", "reason": "best of *all*"}],
               "scores": [{"series_id": "store 12|sku 9", "model": "naive", "mae": 1.5, "n": 3, "failed": 0}],
               "scores_by_h": [{"series_id": "store 12|sku 9", "model": "naive", "h": 1, "mae": 1.5}],
               "model_failures": [{"series_id": "store 12|sku 9", "model": "sarima", "error": "x|y"}]}
    page = _champions_markdown(summary)
    rows = [line for line in page.splitlines() if line.startswith("| store")]
    assert rows == [r"| store 12\|sku 9 | **naive** | best of \*all\* |", r"| store 12\|sku 9 | naive | 1.5 | 3 | 0 |",
                    r"| store 12\|sku 9 | naive | 1.5 |"]
    assert r"**sarima failed on store 12\|sku 9**: x\|y" in page


def test_a_series_id_with_a_comma_or_a_slash_is_a_windows_target_and_one_file(tmp_path, capsys):
    """``--targets 'Lake, Wells/2'`` was split at the comma ('unknown series') and a target
    ``id/é`` wrote the dataset into a folder ``…-id`` holding ``é-<key>.parquet``."""
    from seqcast.cli import main

    sid = "Lake, Wells/2"
    days = pd.date_range("2023-01-01", periods=400)
    rows = "".join(f"{d:%Y-%m-%d},{s},{100 + i % 7 + k}\n" for k, s in enumerate([sid, "bus"])
                   for i, d in enumerate(days))
    src = _write(tmp_path, "long.csv", '"date","series","value"\n' + rows.replace(sid, f'"{sid}"'))
    out = tmp_path / "w"
    argv = ["windows", "build", "--source", src, "--mapping", _mapping(tmp_path, LONG), "--out", str(out),
            "--kind", "seq2seq", "--input-length", "14", "--h", "7"]
    assert main(argv + ["--targets", sid]) == 0, capsys.readouterr().err
    (built,) = [p for p in out.rglob("*") if p.is_file()]
    assert built.parent == out and built.name.startswith("seq2seq-L14-h7-Lake__Wells_2-")
    assert main(argv + ["--targets", "bus,nope"]) == 1  # a list still splits at commas
    assert "unknown series ['nope']" in capsys.readouterr().err


def test_a_parquet_file_naming_a_column_twice_is_one_line(tmp_path):
    """pyarrow writes two fields of one name; reading it failed with pyarrow's schema dump
    ('Multiple matches for FieldRef.Name(v) in Date: date32[day] …'). Like a CSV header
    naming a column twice: ambiguous, said so."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "twice.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(DAYS.date, pa.date32()), pa.array(VALUES), pa.array(VALUES * 2)],
                                        names=["Date", "v", "v"]), path)
    with pytest.raises(InputError) as err:
        clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    assert str(err.value) == (f"{path}: the file names column(s) ['v'] more than once; which one is meant is "
                              "ambiguous (rename or drop the copies)")


def test_series_ids_in_two_unicode_forms_are_one_series_and_it_is_said(tmp_path):
    """'Café' typed on one system and 'Cafe' + a combining accent (macOS file names, some
    exports) print alike but were two series, two lines of the table that look the same."""
    composed, decomposed = "Caf\u00e9", "Cafe\u0301"
    rows = [f"2024-01-{d:02d},{decomposed if d > 15 else composed},{1000 + d}" for d in range(1, 21)]
    out = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG)
    assert out.clean["series_id"].unique().tolist() == [composed] and len(out.clean) == 20
    assert out.report["series_ids_trimmed"] == ["'Cafe\\u0301' read as 'Caf\\xe9' (Unicode NFC, the same text "
                                                "composed) (5 rows), as are 15 rows already 'Caf\\xe9'"]


def test_a_blank_or_null_date_is_a_missing_date(tmp_path):
    """A blank date cell (or a Parquet null, a date32 column left empty) was quarantined as
    "cannot parse '' as %Y-%m-%d", as if the cell held a date in another format."""
    csv = _wide_csv().replace(f"2024-01-05,{VALUES[4]}", f",{VALUES[4]}")
    assert _reasons(_run(tmp_path, csv, WIDE)) == ["Date: missing date"]
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"Date": pa.nulls(60, pa.date32()), "v": VALUES}), path)
    with pytest.raises(InputError, match=r"every one of the 60 rows was rejected, e.g. line 1: Date: missing date$"):
        clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)


def test_parquet_whole_floats_are_ids_and_dates_as_integers(tmp_path):
    """pandas saves an integer column with a NaN as float64: store ids were published as
    '1.0' and '2.0', and ``yyyymmdd`` dates ('20240101.0') rejected every row under
    ``date_format: '%Y%m%d'``. A column of whole floats reads as the integers it holds; a
    column with a fraction anywhere stays as it is ('2.5' beside '1.0')."""
    path = tmp_path / "floats.parquet"
    dates = DAYS.strftime("%Y%m%d").astype(float).to_numpy().copy()
    dates[4] = np.nan
    pd.DataFrame({"Date": dates, "v": VALUES}).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, WIDE + "date_format: '%Y%m%d'\n"), today=TODAY)
    assert _reasons(out) == ["Date: missing date"] and len(out.clean) == 60 and out.clean["ds"].tolist() == list(DAYS)
    ids = np.r_[np.repeat(1.0, 60), np.repeat(2.0, 59), np.nan]
    pd.DataFrame({"date": np.tile(DAYS, 2), "series": ids, "value": np.tile(VALUES, 2)}).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, LONG), today=TODAY)
    assert sorted(out.clean["series_id"].unique()) == ["1", "2"] and _reasons(out) == ["series: empty series id"]
    pd.DataFrame({"date": np.tile(DAYS, 2), "series": np.repeat([1.0, 2.5], 60), "value": np.tile(VALUES, 2)}
                 ).to_parquet(path)
    out = clean_source(str(path), _mapping(tmp_path, LONG), today=TODAY)
    assert sorted(out.clean["series_id"].unique()) == ["1.0", "2.5"]


def test_a_parquet_float16_column_reads_without_a_warning(tmp_path):
    """A half-precision value column (pyarrow ``float16``) printed "RuntimeWarning: overflow
    encountered in cast" on the console of `seqcast run` and `backtest` (2**53 compared in
    float16); its values read as they are."""
    import warnings

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "half.parquet"
    pq.write_table(pa.table({"Date": pa.array([d.date() for d in DAYS], pa.date32()),
                             "v": pa.array(np.arange(60, dtype="float16"))}), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = clean_source(str(path), _mapping(tmp_path, WIDE), today=TODAY)
    assert out.clean["y"].tolist() == list(map(float, range(60)))


def test_a_long_series_id_makes_a_file_name_a_file_system_takes():
    """A dataset's or trained model's name holds its targets: a 200-character id (a product
    description, 272 characters) went over the 255-byte limit of a file name (OSError: File name too long)."""
    from seqcast.io import path_part
    from seqcast.windows import WindowSpec

    long_id = "Großraum-Verkehr " * 16
    stem = path_part(long_id)
    assert len(stem.encode()) <= 129 and path_part(long_id + "x") != stem
    spec = WindowSpec(input_length=14, h=7, kind="seq2seq", targets=(long_id,))
    assert len(f"{spec.slug}.parquet".encode()) < 255


def test_a_fit_cache_label_holding_a_series_id_is_one_folder(tmp_path):
    """The nightly's fit cache is keyed by the model label, which for a trained network holds
    its target's id (``lstm-<id>``): a long id went past a file name's size."""
    from seqcast.backtest import cached_fit
    from seqcast.models.sarima import SARIMA

    hist = pd.DataFrame({"series_id": "a", "ds": DAYS, "y": VALUES + np.arange(60) % 3})
    cached_fit(SARIMA(), hist, None, tmp_path, "sarima-" + "route 9/Lake " * 30)
    (entry,) = [p for p in tmp_path.rglob("metadata.json")]
    assert entry.parent.parent.parent == tmp_path


def test_a_folder_of_part_files_as_source_is_named_as_such(tmp_path, capsys):
    """``--source`` naming the folder Spark or DuckDB wrote (part-00000.parquet, …, _SUCCESS):
    ``seqcast run`` said 'no such file' of a folder that exists (``backtest``: 'is a
    directory'); both now say it is a folder of part files and how to make one file."""
    from seqcast.cli import main

    folder = tmp_path / "export"
    folder.mkdir()
    pd.DataFrame({"Date": DAYS, "v": VALUES}).to_parquet(folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")
    mapping = _mapping(tmp_path, WIDE)
    for argv in (["run", "--data-dir", str(tmp_path / "d")],
                 ["backtest", "--start", "2024-02-01", "--end", "2024-02-02"]):
        assert main([*argv, "--source", str(folder), "--mapping", mapping]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"seqcast: error: {folder}: is a directory, not a CSV or Parquet file (it holds 1 part "
                       "file(s), e.g. part-00000.parquet, as Spark or DuckDB write a table: combine them into one "
                       "file, e.g. with DuckDB: COPY (SELECT * FROM 'dir/*.parquet') TO 'table.parquet')"]


def test_a_stray_copy_of_a_nights_file_is_named(tmp_path, capsys):
    """A Finder copy ``part-0 copy.parquet`` inside a night's folder: seqcast reads only
    ``part-0``, so nothing showed, but the README's DuckDB query and ``pd.read_parquet`` of
    the table read every row of that night twice."""
    import shutil

    from seqcast.published import publish_forecasts

    rows = pd.DataFrame({"series_id": ["001"], "ds": pd.Timestamp("2024-12-31"), "cutoff": pd.Timestamp("2024-12-30"),
                         "h": 1, "model": "naive", "mean": [1.0], "reason": "test"})
    path = publish_forecasts(rows, tmp_path, run_date=date(2024, 12, 30), run_id="r", data_hash="x")
    shutil.copy(path, path.with_name("part-0 copy.parquet"))
    assert len(pd.read_parquet(path.parent.parent)) == 2  # what other readers see
    from seqcast.cli import main

    assert main(["forecasts", "show", "--data-dir", str(tmp_path), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"warning: {path.with_name('part-0 copy.parquet')} is not a night's table (part-0.parquet): DuckDB, pandas "
        "and Spark read it as more rows of that night; move it out of the forecast table"]
    assert len(captured.out.strip().splitlines()) == 2  # seqcast's own reading: the night once


def test_series_ids_with_invisible_characters_are_one_series_and_it_is_said(tmp_path):
    """'bus' pasted with a zero-width space or a no-break space ('bus\\u200b', 'bus\\xa0')
    printed as 'bus' beside the real one: two series whose rows look alike."""
    rows = [f"2024-01-{d:02d},{'bus' + chr(0x200B) if d > 15 else 'bus'},{1000 + d}" for d in range(1, 21)]
    rows += [f"2024-01-{d:02d},rail\xa0,{500 + d}" for d in range(1, 21)]
    out = _run(tmp_path, "date,series,value\n" + "\n".join(rows) + "\n", LONG)
    assert sorted(out.clean["series_id"].unique()) == ["bus", "rail"] and len(out.clean) == 40
    assert out.report["series_ids_trimmed"] == [
        "'bus\\u200b' read as 'bus' (invisible characters dropped) (5 rows), as are 15 rows already 'bus'",
        "'rail\\xa0' read as 'rail' (20 rows)"]
