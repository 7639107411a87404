"""`mlcheck stack`: build the stack images locally, or say which backend `--stack` picks."""

from __future__ import annotations

import argparse

from mlcheck.commands.args import EXIT_PASS, Subparsers

__all__ = ["cmd_stack_build_images", "cmd_stack_which", "register"]


def register(subparsers: Subparsers) -> None:
    stack = subparsers.add_parser(
        "stack", help="the real Prometheus and MLflow of gate runs: images and backend check"
    )
    stack_sub = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)
    build = stack_sub.add_parser(
        "build-images",
        help="build the Prometheus and MLflow images locally (no registry; root, dockerd)",
        description="Build the images of the containers backend without a registry: "
        "Prometheus from Debian's binary, MLflow on a debootstrap Python base. Images that "
        "exist are skipped. Names come from [stack] of the policy.",
    )
    build.add_argument("--policy", metavar="PATH", help="gates.toml naming the images")
    build.add_argument("--force", action="store_true", help="rebuild images that exist")
    build.set_defaults(handler=cmd_stack_build_images)
    which = stack_sub.add_parser(
        "which", help="print the backend --stack would use and why (exit 2: none can start)"
    )
    which.add_argument("--stack", default="auto", metavar="BACKEND", help="default: auto")
    which.add_argument("--policy", metavar="PATH", help="gates.toml naming the images")
    which.set_defaults(handler=cmd_stack_which)


def cmd_stack_build_images(args: argparse.Namespace) -> int:
    from mlcheck.policy import load_policy
    from mlcheck.stack.images import build_images

    build_images(
        load_policy(args.policy).stack, force=args.force, log=lambda text: print(text, flush=True)
    )
    return EXIT_PASS


def cmd_stack_which(args: argparse.Namespace) -> int:
    from mlcheck.policy import load_policy
    from mlcheck.stack import choose_backend

    backend, reason = choose_backend(args.stack, load_policy(args.policy).stack)
    print(f"{backend.name if backend is not None else 'off'}: {reason}")
    return EXIT_PASS
