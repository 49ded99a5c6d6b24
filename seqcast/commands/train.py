"""``seqcast train``: train a Keras model on windowed data and save it.

    seqcast train --model lstm --source ../shared/data/cta_ridership_daily.csv --targets rail
    seqcast train --model rnn_multivariate --clean data/clean/<hash>/asof-<date>/clean \\
        --epochs 300 --param units=64 --out data/models
    seqcast train --model rnn --source cta.csv --lr-find        # learning-rate range test only

Splits default to the chapter's (train 2016-01..2018-12, valid 2019-01..2019-05) where
the data cover them, else 70/15/15 % of the days in order;
``--split train=:2018-12-31 --split valid=2019-01-01:`` changes them. An epoch
bar goes to stderr; the summary (validation MAE per step, epochs, windows/s,
device, saved path) to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys

from seqcast.commands import positive_int, split_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a neural model (lstm, gru, rnn, ...) and save it")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--clean", help="clean long Parquet (series_id, ds, y, day_type, ...)")
    src.add_argument("--source", help="raw source (CSV/Parquet, path or URL) to clean in memory first")
    p.add_argument("--mapping", help="column mapping file of --source (default: the CTA mapping)")
    src.add_argument("--windows", help="a windowed Parquet dataset (seqcast windows build)")
    p.add_argument("--model", required=True, help="registered model name, e.g. lstm, rnn_seq2seq")
    p.add_argument("--targets", help="target series (default: rail where the data has it, else the only series)")
    p.add_argument("--input-length", type=positive_int, help="input days (default: the model's, 56)")
    p.add_argument("--horizon", type=positive_int, help="steps the network is trained for")
    p.add_argument("--epochs", type=positive_int, help="epoch budget (early stopping ends sooner)")
    p.add_argument("--scaling", help="none | constant (/1e6, the chapter's CTA recipe) | standard "
                   "(default: the model's, standard)")
    p.add_argument("--split", action="append", metavar="NAME=START:END", type=split_spec,
                   help="repeatable (default: the chapter's train/valid/test splits where the data "
                        "cover 2016-01-01..2019-05-31, else 70/15/15 %% of the days in order)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="other hyperparameters (JSON values): units=64, dropout=0.2, cell=\"gru\"")
    p.add_argument("--out", default="data/models", help="models folder (default data/models)")
    p.add_argument("--lr-find", action="store_true", help="run the learning-rate range test only")
    p.add_argument("--quiet", action="store_true", help="no epoch bar")
    p.set_defaults(handler=handle)


def _params(args: argparse.Namespace) -> dict:
    from seqcast.errors import ModelError

    params: dict = {}
    for item in args.param:
        key, eq, value = item.partition("=")
        if not eq:
            raise ModelError(f"--param {item!r}: expected KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    for key in ("input_length", "horizon", "epochs"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    if args.scaling is not None:
        params.setdefault("scaling", args.scaling)
    return params


def epoch_bar(stream=None, width: int = 30):
    """A progress callback drawing ``label [#####.....] 12/300 loss ... val_mae ...``.

    ``stream`` defaults to the ``sys.stderr`` of the moment each epoch ends (not of import
    time: a test runner or a logger may have replaced it since).
    """

    def show(event: dict) -> None:
        out = stream or sys.stderr
        done, total = event["epoch"], max(event["epochs"], 1)
        if event["stopped"]:
            out.write(f"\r{event['label']}: stopped after {done} epochs{' ' * 40}\n")
            out.flush()
            return
        filled = int(width * done / total)
        logs = " ".join(f"{k} {v:.4g}" for k, v in event["logs"].items())
        out.write(f"\r{event['label']} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {logs}")
        out.flush()

    return show


def handle(args: argparse.Namespace) -> int:
    import contextlib

    from seqcast import trained, training
    from seqcast.commands.windows import (
        _default_targets,
        check_mapping_use,
        check_not_dropped,
        data_splits,
        load_frame,
        naming_the_data,
        series_list,
    )
    from seqcast.errors import ModelError
    from seqcast.metrics import figure
    from seqcast.windows import DEFAULT_SPLITS, build_windows, read_dataset

    check_mapping_use(args)
    params = _params(args)
    from seqcast.models import build

    build({"name": args.model, "params": params})  # bad hyperparameters: one line, before any data
    if args.windows:
        dataset = read_dataset(args.windows)
    else:
        frame, report = load_frame(args)
        targets = series_list(args.targets, frame) or ()
        with naming_the_data(args):
            targets = targets or _default_targets(frame, report)
        check_not_dropped(args, report, targets)
        with naming_the_data(args):
            # the model's window (input_length + horizon) decides which default splits fit
            shape = trained.model_window_spec(args.model, params, targets=targets, splits=DEFAULT_SPLITS)
            splits = data_splits(args, frame, shape.input_length + shape.h)
            spec = trained.model_window_spec(args.model, params, targets=targets, splits=splits)
            dataset = build_windows(frame, spec)
    if args.lr_find:
        return _lr_find(args.model, params, dataset)
    if "valid" not in dataset.splits:
        name = args.windows or args.source or args.clean
        raise ModelError(f"{name}: the splits are {list(dataset.splits)}; one named 'valid' is needed "
                         "(early stopping and the validation MAE read it)")
    hook = contextlib.nullcontext() if args.quiet else training.progress_hook(epoch_bar())
    with hook:
        summary = trained.train_and_save(args.model, dataset, args.out, params)
    m = summary["metrics"]
    steps = {k.rsplit("_", 1)[-1]: v for k, v in m.items() if "_t+" in k}
    print(f"{summary['label']}: valid MAE {figure(m.get('valid_mae', float('nan')))} "
          f"({', '.join(f'{k} {figure(v)}' for k, v in list(steps.items())[:14])})")
    print(f"epochs {summary['epochs_run']} (best {summary['best_epoch']}), "
          f"{summary['windows_per_s']:,.0f} windows/s, {summary['seconds']:.1f} s on {summary['device']}")
    print(f"saved: {summary['path']}")
    return 0


def _lr_find(name: str, params: dict, dataset) -> int:
    from seqcast import training
    from seqcast.models import get_model

    model = get_model(name, **params)
    split = dataset[dataset.spec.splits[0][0]]
    x, y = split.arrays()
    training.configure_runtime()
    known = max(len(dataset.known_names), 1)

    def build():
        return model._build(dataset.spec.input_length, split.features.shape[1],
                            len(dataset.spec.targets), known)

    result = training.lr_range_test(build, x, model._prepare_targets(y), model.recipe())
    for lr, loss in list(zip(result.learning_rates, result.losses, strict=True))[::10]:
        print(f"lr {lr:.2e}  loss {loss:.4g}")
    print(f"suggested learning rate: {result.suggested:.2e}")
    return 0
