"""`mlcheck train`: an XGBoost model saved as an MLflow model directory, optionally registered."""

from __future__ import annotations

import argparse

from mlcheck.commands.args import EXIT_PASS, Subparsers, positive_int
from mlcheck.errors import ConfigError

__all__ = ["cmd_train", "register"]


def register(subparsers: Subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train an XGBoost model and save it as an MLflow model directory"
    )
    train.add_argument(
        "--data", required=True, metavar="PATH", help="training data, .csv or .parquet"
    )
    train.add_argument(
        "--target", default="y", metavar="COLUMN", help="0/1 label column (default y)"
    )
    train.add_argument(
        "--out", required=True, metavar="DIR", help="new directory for the MLflow model"
    )
    train.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    train.add_argument(
        "--rounds", type=positive_int, default=300, help="boosting rounds (default 300)"
    )
    train.add_argument(
        "--register",
        metavar="NAME",
        help="also register the model in MLflow under NAME (MLFLOW_TRACKING_URI names the server)",
    )
    train.add_argument("--alias", help="alias for the new version, e.g. challenger")
    train.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from mlcheck.data.io import read_table
    from mlcheck.models.training import train_xgboost

    frame = read_table(args.data, "--data")
    out = train_xgboost(frame, args.out, target=args.target, seed=args.seed, rounds=args.rounds)
    print(f"saved an XGBoost MLflow model trained on {len(frame):,} rows to {out}")
    if args.register:
        from mlcheck.models.registry import register_model

        version = register_model(out, args.register, args.alias)
        alias = f" as @{args.alias}" if args.alias else ""
        print(f"registered {args.register} version {version}{alias}")
    elif args.alias:
        raise ConfigError(f"--alias={args.alias!r} needs --register NAME (the model to alias)")
    return EXIT_PASS
