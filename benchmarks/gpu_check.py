"""The chapter's models on CTA under Keras' JAX backend, mixed precision off and on:
windows/s and validation MAE per model (run by ``benchmarks/gpu_check.sh``).

Same split as ``benchmarks/chapter_table.py`` (train 2016-01..2018-12, validate
2019-01..2019-05, series / 1e6), a fixed number of epochs (no early stop, best
weights restored), batch 256, seed 42, training through ``fit_windows`` (the
project's own recipe: jitted under JAX). ``windows/s`` is the steady rate, epochs
2..N (the first holds XLA compilation), and ``compile s`` the first epoch's excess.
Mixed precision is ``mixed_float16`` on a GPU; on a CPU it stays float32 (noted).

Reads the cleaned CTA frame from ``benchmarks/.gpu_carry/cta_clean.parquet``
(``make gpu-carry``) and prints, beside each GPU figure, the CPU figure recorded
in ``benchmarks/gpu_check_cpu.json`` (``gpu_check.sh --cpu --record``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CARRY = ROOT / "benchmarks" / ".gpu_carry"
CPU_RECORD = ROOT / "benchmarks" / "gpu_check_cpu.json"
SPLITS = (("train", "2016-01-01", "2018-12-31"), ("valid", "2019-01-01", "2019-05-31"))
# the chapter's models (benchmarks/chapter_table.py): name, params, MAE key
MODELS = {
    "linear": ({}, "valid_mae_rail_t+1"),
    "rnn": ({}, "valid_mae_rail_t+1"),
    "deep_rnn": ({}, "valid_mae_rail_t+1"),
    "rnn_multivariate": ({}, "valid_mae_rail_t+1"),
    "rnn_multitask": ({}, "valid_mae_rail_t+1"),
    "rnn_seq2seq": ({"horizon": 14}, "valid_mae_rail_t+1"),
    "lstm": ({}, "valid_mae_rail_t+1"),
    "gru": ({}, "valid_mae_rail_t+1"),
    "ln_rnn": ({}, "valid_mae_rail_t+1"),
    "conv_gru": ({}, "valid_mae_rail_t+1"),
    "wavenet": ({}, "valid_mae_rail_t+1"),
    "encoder_decoder": ({}, "valid_mae_rail_t+1"),
}


def run_one(clean, name: str, mixed: bool, epochs: int, batch: int) -> dict:
    import keras

    from seqcast import training
    from seqcast.models import get_model
    from seqcast.windows import build_windows

    params, key = MODELS[name]
    model = get_model(name, **params, scaling="constant", scale=1e6, seed=42, epochs=epochs,
                      patience=epochs, batch_size=batch, mixed_precision=mixed)
    if "targets" in model.param_defaults():
        spec = model.window_spec(targets=model.targets, inputs=model.inputs,
                                 known_future=model.known_future, splits=SPLITS)
    else:
        spec = model.window_spec(targets=("rail",), splits=SPLITS)
    dataset = build_windows(clean, spec)
    n = dataset["train"].n_windows
    stamps: list[float] = []
    t0 = time.perf_counter()
    with training.progress_hook(lambda e: stamps.append(time.perf_counter()) if not e["stopped"] else None):
        model.fit_windows(dataset)
    wall = time.perf_counter() - t0
    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("float32")
    (state,) = model.states_.values()
    steady = (len(stamps) - 1) * n / (stamps[-1] - stamps[0]) if len(stamps) > 2 else float("nan")
    per_epoch = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 2 else 0.0
    return {"model": name, "mixed": mixed, "policy": policy, "device": state.train["device"],
            "windows": n, "epochs": len(stamps), "windows_per_s": steady,
            "compile_s": max(stamps[0] - t0 - per_epoch, 0.0) if stamps else float("nan"),
            "fit_s": wall, "valid_mae": state.metrics[key]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: all)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--budget-s", type=float, default=400, help="skip what would start after this")
    p.add_argument("--data", default=str(CARRY / "cta_clean.parquet"))
    p.add_argument("--record", action="store_true", help=f"write the figures to {CPU_RECORD.name}")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)

    import jax
    import keras
    import pandas as pd

    print(f"keras {keras.__version__} backend={keras.backend.backend()} jax {jax.__version__} "
          f"devices={jax.devices()} load={os.getloadavg()[0]:.1f} epochs={args.epochs} "
          f"batch={args.batch_size}", flush=True)
    if not Path(args.data).exists():
        print(f"{args.data} not found: run `make gpu-carry` and carry benchmarks/.gpu_carry",
              file=sys.stderr)
        return 2
    clean = pd.read_parquet(args.data)
    clean["ds"] = pd.to_datetime(clean["ds"])
    baseline = {}
    if CPU_RECORD.exists() and not args.record:
        rec = json.loads(CPU_RECORD.read_text())
        baseline = {(r["model"], r["mixed"]): r for r in rec["rows"]}
        print(f"CPU figures beside: {rec['note']}")
    head = (f"{'model':<17} {'mixed':<5} {'policy':<14} {'device':<22} {'win/s':>9} "
            f"{'compile s':>9} {'val MAE':>8} | {'CPU win/s':>9} {'CPU MAE':>8} {'speed-up':>8}")
    print(head, flush=True)
    rows, start, skipped = [], time.perf_counter(), []
    for name in args.models.split(","):
        for mixed in (False, True):
            if time.perf_counter() - start > args.budget_s:
                skipped.append(f"{name}{'+mixed' if mixed else ''}")
                continue
            r = run_one(clean, name, mixed, args.epochs, args.batch_size)
            rows.append(r)
            b = baseline.get((name, mixed), {})
            cpu_w, cpu_m = b.get("windows_per_s", float("nan")), b.get("valid_mae", float("nan"))
            print(f"{name:<17} {'on' if mixed else 'off':<5} {r['policy']:<14} {r['device'][:22]:<22} "
                  f"{r['windows_per_s']:>9.0f} {r['compile_s']:>9.1f} {r['valid_mae']:>8.0f} | "
                  f"{cpu_w:>9.0f} {cpu_m:>8.0f} {r['windows_per_s'] / cpu_w:>7.1f}x", flush=True)
    if skipped:
        print(f"skipped (over --budget-s {args.budget_s:.0f}): {', '.join(skipped)}")
    print(f"total {time.perf_counter() - start:.0f} s")
    out = {"note": f"{rows[0]['device'] if rows else '?'}, keras {keras.__version__}, jax "
                   f"{jax.__version__}, epochs {args.epochs}, batch {args.batch_size}, load "
                   f"{os.getloadavg()[0]:.1f}", "rows": rows}
    if args.record:
        CPU_RECORD.write_text(json.dumps(out, indent=1) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
