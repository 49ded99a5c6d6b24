"""A corpus of malformed inputs, each with its documented outcome (README, "Bad input").

Every case runs the real nightly flow under Prefect. A structural problem stops
the run with one clear message and leaves the published table exactly as it was;
a row-level problem quarantines the rows with their reasons and the run publishes
a complete table from the rest.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import pandas as pd
import pytest

from seqcast.errors import CleaningError, InputError
from seqcast.published import read_published_file
from seqcast.sample import sample_bytes

HEADER = b"service_date,day_type,bus,rail_boardings,total_rides\n"


def _files(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _lines() -> list[bytes]:
    return sample_bytes().splitlines(keepends=True)


def _edit(line_no: int, **cells) -> bytes:
    """The sample with cells of one data line (1-based file line) replaced."""
    lines = _lines()
    cols = lines[0].decode().strip().split(",")
    values = lines[line_no - 1].decode().strip().split(",")
    for k, v in cells.items():
        values[cols.index(k)] = v
    lines[line_no - 1] = (",".join(values) + "\n").encode()
    return b"".join(lines)


def _edit_all(**cells) -> bytes:
    """The sample with the named columns set to the same text on every data line."""
    lines = _lines()
    cols = lines[0].decode().strip().split(",")
    out = [lines[0]]
    for line in lines[1:]:
        values = line.decode().strip().split(",")
        for k, v in cells.items():
            values[cols.index(k)] = v
        out.append((",".join(values) + "\n").encode())
    return b"".join(out)


def _drop_days(first: int, n: int) -> bytes:
    lines = _lines()
    return b"".join(lines[:first] + lines[first + n :])


def _conflicting_duplicate() -> bytes:
    lines = _lines()
    values = lines[100].decode().strip().split(",")
    values[2] = str(int(values[2]) + 1000)
    values[4] = str(int(values[2]) + int(values[3]))
    return b"".join(lines + [(",".join(values) + "\n").encode()])


FUTURE = (date.today() + timedelta(days=400)).strftime("%m/%d/%Y")

# (case id, bytes, "error", "quarantine" (whole rows) or "cell" (values set aside), expected message
# fragment, rows quarantined; None: every row)
CORPUS = [
    ("empty-file", b"", "error", "file is empty", None),
    ("header-only", HEADER, "error", "no data rows", None),
    ("missing-column", b"".join(line.rsplit(b",", 1)[0] + b"\n" for line in _lines()), "error", "missing required column(s) 'total_rides'", None),
    ("wrong-delimiter", sample_bytes().replace(b",", b";"), "error", "';'-delimited", None),
    ("non-utf8-bytes", _edit(50, day_type="W\xe9").replace("W\xe9".encode(), b"W\xe9"), "error", "not valid utf-8", None),
    ("every-row-bad", HEADER + b"yesterday,W,1,2,3\nsoon,W,1,2,3\n", "error", "every one of the 2 rows was rejected", None),
    ("gap-40-days", _drop_days(200, 40), "error", "gap of 40 missing day(s)", None),
    ("unparseable-date", _edit(10, service_date="13/45/2021"), "quarantine", "cannot parse '13/45/2021'", 1),
    # a bad value sets aside that series' cell; the row's other series keep theirs (scope names the column)
    ("text-in-numeric", _edit(11, bus="n/a"), "cell", "bus: 'n/a' is not a number", 1),
    ("negative-count", _edit(12, rail_boardings="-5"), "cell", "rail_boardings: negative value", 1),
    ("unknown-day-type", _edit(13, day_type="X"), "quarantine", "unknown day type", 1),
    ("total-mismatch", _edit(14, total_rides="1"), "quarantine", "total_rides != bus + rail_boardings", 1),
    ("missing-value", _edit(15, bus=""), "cell", "bus: missing value", 1),
    ("rail-column-empty", _edit_all(rail_boardings=""), "cell", "rail_boardings: missing value", None),
    # the copy differs in bus only: bus sets that day aside, rail keeps its value
    ("conflicting-duplicate", _conflicting_duplicate(), "cell", "conflicting duplicate: series bus", 2),
    ("future-dated-row", sample_bytes() + f"{FUTURE},W,1,2,3\n".encode(), "quarantine", "date after", 1),
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, prefect_harness):
    """A published table from an earlier night, which no failed run may touch."""
    from flows.nightly import NightlyParams, nightly, spec_for

    data = tmp_path_factory.mktemp("baseline")
    nightly(NightlyParams(data_dir=str(data), as_of=date(2024, 12, 31), models=[spec_for("seasonal_naive")]))
    return data / "published" / "forecasts" / "run_date=2024-12-31"


def test_corpus_has_every_documented_case():
    assert len(CORPUS) >= 12
    assert len({c[0] for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case, data, outcome, message, n_quarantined", CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_input(tmp_path, baseline, case, data, outcome, message, n_quarantined):
    from flows.nightly import NightlyParams, nightly, spec_for

    source = tmp_path / f"{case}.csv"
    source.write_bytes(data)
    data_dir = tmp_path / "data"
    published = data_dir / "published" / "forecasts"
    published.mkdir(parents=True)
    shutil.copytree(baseline, published / baseline.name)
    before = _files(published)
    # the data stages are under test here: one cheap model keeps the corpus fast
    params = NightlyParams(source=str(source), data_dir=str(data_dir), models=[spec_for("seasonal_naive")])

    if outcome == "error":
        with pytest.raises((InputError, CleaningError)) as info:
            nightly(params)
        assert message.lower() in str(info.value).lower()
        assert str(source) in str(info.value) or "gap" in message
        assert _files(published) == before  # no partial table, nothing else written there
        return

    summary = nightly(params)
    quarantine = pd.read_parquet(summary["quarantine_path"])
    assert quarantine["reason"].str.contains(message, regex=False).all(), quarantine["reason"].tolist()
    assert summary["rows_kept"] + summary["rows_quarantined"] + summary["exact_duplicates_dropped"] == summary["rows_in"]
    table = read_published_file(summary["published"])
    if outcome == "quarantine":
        assert len(quarantine) == n_quarantined == summary["rows_quarantined"]
        assert (quarantine["scope"] == "row").all()
        assert len(table) == 2 * 14 and table["mean"].notna().all()
        return
    # a cell: the row stays for the other series, nothing of theirs is imputed
    column = quarantine["scope"].iloc[0]
    assert summary["rows_quarantined"] == 0
    assert summary["rows_kept"] + summary["exact_duplicates_dropped"] == summary["rows_in"]
    assert (quarantine["scope"] == column).all()
    assert len(quarantine) == summary["rows_partly_quarantined"] == (n_quarantined or summary["rows_in"])
    clean = pd.read_parquet(summary["clean_path"]).set_index(["series_id", "ds"])
    sid = {"bus": "bus", "rail_boardings": "rail"}[column]
    other = "rail" if sid == "bus" else "bus"
    days = pd.to_datetime(quarantine["service_date"], format="%m/%d/%Y")
    assert not clean.loc[[(other, d) for d in days], "is_imputed"].any()  # its real values, kept
    clean = clean.reset_index()
    if n_quarantined is None:  # the whole column: that series is dropped with the reason, the other published
        assert summary["series_quarantined"] == ["rail"]
        assert "no value on any" in summary["series_quarantine_reasons"][0]
        assert len(table) == 14 and set(table["series_id"]) == {"bus"}
        from seqcast.alerts import read_alerts  # readers of the latest rail forecast are warned
        alert = read_alerts(data_dir).query("series_id == 'rail' and status == 'open'")
        assert alert[["kind", "severity"]].values.tolist() == [["stale_data", "critical"]]
        assert alert["window"].iloc[0].startswith("dropped: series rail: no value on any")
    else:
        imputed = clean[clean["is_imputed"]]
        assert (imputed["series_id"] == sid).sum() == (imputed["series_id"] == other).sum() + 1
        assert len(table) == 2 * 14 and table["mean"].notna().all()
