"""Benchmark (not a test): the chapter's neural models on CTA, beside the chapter's figures.

Train 2016-01..2018-12, validate 2019-01..2019-05, 56-day windows (112 for the
Conv1D model), series divided by 1e6, Huber loss, early stopping on validation
MAE with the best weights restored. Prints validation MAE (riders) next to the
chapter's figure, the ratio, epochs, and training throughput (windows/s).

    .venv/bin/python benchmarks/chapter_table.py                      # every model
    .venv/bin/python benchmarks/chapter_table.py --models rnn,linear --seeds 1,2,3
    .venv/bin/python benchmarks/chapter_table.py --models rnn --optimizer sgd --lr 0.05 --batch-size 32

Figures vary with seeds (the chapter says so too); ``--seeds`` reports the
median over several.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
CTA = ROOT.parent / "shared" / "data" / "cta_ridership_daily.csv"
SPLITS = (("train", "2016-01-01", "2018-12-31"), ("valid", "2019-01-01", "2019-05-31"))

# name, model, params, window spec arguments, rows: (label, metric key, chapter figure)
RAIL = {"targets": ("rail",)}
MULTI = {"targets": ("rail",), "inputs": ("bus", "rail"), "known_future": ("day_type",)}
CASES = [
    ("linear", "linear", {}, RAIL, [("rail t+1", "valid_mae_rail_t+1", 37866)]),
    ("rnn", "rnn", {}, RAIL, [("rail t+1", "valid_mae_rail_t+1", 27703)]),
    ("deep_rnn", "deep_rnn", {}, RAIL, [("rail t+1", "valid_mae_rail_t+1", 31211)]),
    ("rnn_multivariate", "rnn_multivariate", {}, MULTI, [("rail t+1", "valid_mae_rail_t+1", 22062)]),
    ("rnn_multitask", "rnn_multitask", {},
     {**MULTI, "targets": ("bus", "rail")},
     [("rail t+1", "valid_mae_rail_t+1", 25330), ("bus t+1", "valid_mae_bus_t+1", 26369)]),
    ("rnn_seq2seq", "rnn_seq2seq", {"horizon": 14}, RAIL,
     [("rail t+1", "valid_mae_rail_t+1", 25519), ("rail t+14", "valid_mae_rail_t+14", 34322)]),
    ("lstm", "lstm", {}, RAIL, [("rail t+1", "valid_mae_rail_t+1", None)]),
    ("gru", "gru", {}, RAIL, [("rail t+1", "valid_mae_rail_t+1", None)]),
    ("ln_rnn", "ln_rnn", {}, RAIL, [("rail t+1", "valid_mae_rail_t+1", None)]),
    ("rnn_vec14", "rnn", {"horizon": 14}, RAIL,
     [("rail t+1", "valid_mae_rail_t+1", None), ("rail t+14", "valid_mae_rail_t+14", None)]),
    ("conv_gru", "conv_gru", {}, RAIL,
     [("rail t+1", "valid_mae_rail_t+1", None), ("rail t+14", "valid_mae_rail_t+14", None)]),
    ("wavenet", "wavenet", {}, RAIL,
     [("rail t+1", "valid_mae_rail_t+1", None), ("rail t+14", "valid_mae_rail_t+14", None)]),
    ("encoder_decoder", "encoder_decoder", {}, RAIL,
     [("rail t+1", "valid_mae_rail_t+1", None), ("rail t+14", "valid_mae_rail_t+14", None)]),
]


def run_case(clean, case, args, seed):
    from seqcast.models import get_model
    from seqcast.windows import build_windows

    _, name, params, spec_args, _ = case
    overrides = {"scaling": "constant", "scale": 1e6, "seed": seed, "epochs": args.epochs,
                 "patience": args.patience}
    for key in ("optimizer", "batch_size"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.lr is not None:
        overrides["learning_rate"] = args.lr
    model = get_model(name, **{**params, **overrides})
    if "targets" in model.param_defaults():  # multi-series models carry their series
        spec = model.window_spec(targets=model.targets, inputs=model.inputs,
                                 known_future=model.known_future, splits=SPLITS)
    else:
        spec = model.window_spec(splits=SPLITS, **spec_args)
    dataset = build_windows(clean, spec)
    t0 = time.perf_counter()
    model.fit_windows(dataset)
    wall = time.perf_counter() - t0
    (state,) = model.states_.values()
    return state.metrics, state.train, wall, dataset["train"].n_windows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated case names (default: all)")
    p.add_argument("--seeds", default="42", help="comma-separated seeds; the median is reported")
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--patience", type=int, default=100)
    p.add_argument("--optimizer")
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--source", default=str(CTA))
    args = p.parse_args(argv)
    if not Path(args.source).exists():
        print(f"CTA data not found at {args.source}", file=sys.stderr)
        return 2
    from seqcast.pipeline import clean_source
    from seqcast.training import Recipe

    clean = clean_source(args.source).clean
    wanted = None if not args.models else set(args.models.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    r = Recipe()
    print(f"recipe: optimizer={args.optimizer or r.optimizer} lr={args.lr or r.learning_rate} "
          f"batch={args.batch_size or r.batch_size} clipnorm={r.clipnorm} loss={r.loss} "
          f"epochs<={args.epochs} patience={args.patience} seeds={seeds}", flush=True)
    head = (f"{'model':<17} {'metric':<10} {'chapter':>8} {'ours':>8} {'ratio':>6} {'per seed':<26} "
            f"{'epochs':>6} {'win/s':>8} {'fit s':>6}")
    lines = []
    for case in CASES:
        if wanted and case[0] not in wanted:
            continue
        runs = [run_case(clean, case, args, s) for s in seeds]
        for label, key, figure in case[4]:
            vals = [m[key] for m, *_ in runs]
            ours = statistics.median(vals)
            ratio = f"{ours / figure:.2f}" if figure else ""
            per = ",".join(f"{v / 1000:.1f}k" for v in vals)
            epochs = statistics.median(t["epochs_run"] for _, t, *_ in runs)
            wps = statistics.median(t["windows_per_s"] for _, t, *_ in runs)
            wall = statistics.median(w for *_, w, _ in runs)
            line = (f"{case[0]:<17} {label:<10} {figure or '-':>8} {ours:>8.0f} {ratio:>6} {per:<26} "
                    f"{epochs:>6.0f} {wps:>8.0f} {wall:>6.1f}")
            lines.append(line)
            print(line, flush=True)
    print()
    print(head)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
