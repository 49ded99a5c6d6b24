"""Build ``benchmarks/.gpu_carry/`` (git-ignored) for ``benchmarks/gpu_check.sh`` on a GPU machine.

That machine has JAX with CUDA, numpy, pandas and pyarrow, but no Keras and no
``../shared``. This writes what it lacks, about 2 MB:

- ``wheels/``: Keras (the version installed here) and the two of its dependencies
  the machine does not have (``namex``, ``optree``; ``absl-py``, ``rich``, ``h5py``,
  ``ml-dtypes``, ``packaging`` are there), for CPython 3.12 on x86-64 Linux;
- ``cta_clean.parquet``: the CTA export, read, validated and cleaned here (the
  GPU machine has no pandera/great_expectations to do it).

    .venv/bin/python benchmarks/gpu_carry.py        # or: make gpu-carry
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CARRY = ROOT / "benchmarks" / ".gpu_carry"
CTA = ROOT.parent / "shared" / "data" / "cta_ridership_daily.csv"
# What Keras needs that the GPU machine's image lacks (see .library/device KINDS.md).
WHEELS = ("keras", "namex", "optree")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64")


def main() -> int:
    wheels = CARRY / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()
    pins = [f"{name}=={version(name)}" for name in WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", "-d", str(wheels), *pins]
    for p in PLATFORMS:
        cmd[cmd.index("--implementation"):cmd.index("--implementation")] = ["--platform", p]
    subprocess.run(cmd, check=True)
    if not CTA.exists():
        print(f"CTA data not found at {CTA}", file=sys.stderr)
        return 2
    from seqcast.pipeline import clean_source

    clean = clean_source(CTA).clean
    clean.to_parquet(CARRY / "cta_clean.parquet", index=False)
    size = sum(f.stat().st_size for f in CARRY.rglob("*") if f.is_file())
    print(f"{CARRY.relative_to(ROOT)}: {', '.join(pins)}, cta_clean.parquet "
          f"({len(clean)} rows); {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
