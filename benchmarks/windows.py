"""Benchmark: seqcast.windows (numpy + Parquet) against the chapter's nested tf.data windows.

A 1,000,000-point float32 series, 56-step inputs, 14-step seq→seq targets.

- seqcast: build the windows from the long frame, write the Parquet dataset,
  read it back and expose ``x (n, 56, 1)`` / ``y (n, 56, 14)`` as numpy arrays
  (read-only strided views over the stored segment). Also timed, not in the
  ratio: copying both to writable arrays, and one pass of the gather-based
  ``to_tf_dataset`` at batch 256.
- tf.data: ``window(15).flat_map(batch)`` then ``window(56).flat_map(batch)``
  and ``map(lambda S: (S[:, 0], S[:, 1:]))``, batched by 32 and iterated once
  (the chapter's ``to_seq2seq_dataset``), one run. With ``--tf-fraction f < 1`` it runs on
  the first ``f`` of the series and its time is scaled by ``1/f`` (stated in the output).

    TF_ENABLE_ONEDNN_OPTS=0 .venv/bin/python benchmarks/windows.py [--points N] [--tf-fraction F]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from seqcast.windows import (  # noqa: E402
    WindowSpec,
    build_windows,
    read_dataset,
    to_tf_dataset,
    write_dataset,
)

L, H = 56, 14


def make_series(n: int, seed: int = 42) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 1e6 + 2e5 * np.sin(2 * np.pi * t / 7) + np.cumsum(rng.normal(0, 1e3, n))
    return y.astype(np.float32)


def bench_seqcast(series: np.ndarray, out_dir: Path) -> dict:
    n = len(series)
    # 1M days span ~2,700 years: second resolution keeps pandas inside its date range.
    ds = pd.date_range("1000-01-01", periods=n, freq="D", unit="s")
    frame = pd.DataFrame({"series_id": "s", "ds": ds, "y": series})
    spec = WindowSpec(input_length=L, h=H, kind="seq2seq", targets=("s",), scaling="none",
                      splits=(("all", None, None),))
    t0 = time.perf_counter()
    dataset = build_windows(frame, spec)
    t1 = time.perf_counter()
    path = write_dataset(dataset, out_dir / "bench.parquet")
    t2 = time.perf_counter()
    back = read_dataset(path)["all"]
    x, y = back.x, back.y
    t3 = time.perf_counter()
    assert x.shape == (n - L - H + 1, L, 1) and y.shape == (n - L - H + 1, L, H)
    xc, yc = np.array(x), np.array(y)
    t4 = time.perf_counter()
    # spot-check the copy against the source
    i = len(xc) // 2
    np.testing.assert_array_equal(xc[i, :, 0], series[i : i + L])
    np.testing.assert_array_equal(yc[i, -1], series[i + L : i + L + H])
    nbytes = xc.nbytes + yc.nbytes
    del xc, yc
    t5 = time.perf_counter()
    batches = 0
    for _ in to_tf_dataset(back, batch_size=256, shuffle=True, seed=0):
        batches += 1
    t6 = time.perf_counter()
    import pyarrow.parquet as pq

    raw_bytes = pq.read_metadata(path).to_dict()["serialized_size"]
    table_bytes = sum(
        pq.read_metadata(path).row_group(g).total_byte_size
        for g in range(pq.read_metadata(path).num_row_groups)
    )
    return {
        "n_windows": len(x), "build": t1 - t0, "write": t2 - t1, "read": t3 - t2,
        "copy": t4 - t3, "copy_bytes": nbytes, "tf_pass": t6 - t5, "tf_batches": batches,
        "file_bytes": path.stat().st_size, "table_bytes": table_bytes, "meta_bytes": raw_bytes,
    }


def bench_tf_nested(series: np.ndarray) -> tuple[float, int]:
    import tensorflow as tf

    def to_windows(dataset, length):
        dataset = dataset.window(length, shift=1, drop_remainder=True)
        return dataset.flat_map(lambda window_ds: window_ds.batch(length))

    t0 = time.perf_counter()
    ds = to_windows(tf.data.Dataset.from_tensor_slices(series), H + 1)
    ds = to_windows(ds, L).map(lambda S: (S[:, 0], S[:, 1:])).batch(32)
    n = 0
    for x, _ in ds:
        n += int(x.shape[0])
    return time.perf_counter() - t0, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--tf-fraction", type=float, default=1.0,
                        help="run the tf.data side on this leading fraction and scale linearly")
    args = parser.parse_args()
    series = make_series(args.points)
    print(f"series: {args.points:,} float32 points; seq2seq windows of {L} inputs x {H} targets")

    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up on 10k points pays the one-time lazy imports (pyarrow, tensorflow)
        # so that the timed runs measure the work; seqcast's side is the median of 3.
        bench_seqcast(series[:10_000], Path(tmp))
        runs = [bench_seqcast(series, Path(tmp)) for _ in range(3)]
    runs.sort(key=lambda r: r["build"] + r["write"] + r["read"])
    r = runs[1]
    ours = r["build"] + r["write"] + r["read"]
    mb = 1e6
    print("seqcast  (median of 3 runs after a warm-up)")
    print(f"         build {r['build']:.3f} s | write {r['write']:.3f} s | read {r['read']:.3f} s "
          f"| total {ours:.3f} s for {r['n_windows']:,} windows")
    print(f"         {r['n_windows'] / ours:,.0f} windows/s (build + write + read)")
    print(f"         write: file {r['file_bytes'] / mb:.1f} MB at {r['file_bytes'] / mb / r['write']:.0f} MB/s; "
          f"uncompressed columns {r['table_bytes'] / mb:.1f} MB at "
          f"{r['table_bytes'] / mb / r['write']:.0f} MB/s; the windows it encodes are "
          f"{r['copy_bytes'] / mb:,.0f} MB as float32 ({r['copy_bytes'] / mb / r['write']:,.0f} MB/s equivalent)")
    print(f"         copying x and y to writable arrays ({r['copy_bytes'] / 1e9:.2f} GB): {r['copy']:.2f} s "
          f"-> {r['n_windows'] / (ours + r['copy']):,.0f} windows/s with the copy")
    print(f"         to_tf_dataset pass, batch 256 shuffled: {r['tf_pass']:.2f} s "
          f"({r['n_windows'] / r['tf_pass']:,.0f} windows/s)")

    m = max(L + H, int(round(args.points * args.tf_fraction)))
    tf_time, tf_n = bench_tf_nested(series[:m])
    scaled = tf_time * r["n_windows"] / tf_n
    note = "" if m == args.points else (
        f" (measured {tf_time:.1f} s on the first {m:,} points = {tf_n:,} windows, scaled linearly)")
    print(f"tf.data  nested window(): {scaled:.1f} s, {tf_n / tf_time:,.0f} windows/s{note}")
    print(f"load     1-min load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(other work on the machine slows both sides)")
    print(f"ratio    {scaled / ours:,.0f}x faster (build + write + read); "
          f"{scaled / (ours + r['copy']):,.0f}x including the copy to writable arrays")


if __name__ == "__main__":
    main()
