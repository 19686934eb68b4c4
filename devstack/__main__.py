"""``python -m devstack start`` (what ``make start`` runs) and ``python -m devstack generate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devstack.stack import (
    DEFAULT_AZURITE_PORTS,
    DEFAULT_EMULATOR_PORT,
    DEFAULT_HOST_PORT,
    REPO_ROOT,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="run Azurite, the emulator and the Functions host")
    start.add_argument("--app-dir", type=Path, default=REPO_ROOT)
    start.add_argument("--data-dir", type=Path, default=Path(".devstack-data"))
    start.add_argument("--port", type=int, default=DEFAULT_HOST_PORT)
    start.add_argument("--emulator-port", type=int, default=DEFAULT_EMULATOR_PORT)
    start.add_argument(
        "--azurite-blob-port",
        type=int,
        default=DEFAULT_AZURITE_PORTS[0],
        help="queue and table use the next two ports (default: %(default)s)",
    )
    start.add_argument("--quiet", action="store_true", help="do not echo the services' logs")

    gen = sub.add_parser("generate", help="generate an image and save a copy")
    gen.add_argument("prompt")
    gen.add_argument("--model", help="gpt-image-2, gpt-image-1.5, … (default: the app's default)")
    gen.add_argument("--n", type=int)
    gen.add_argument("--size")
    gen.add_argument(
        "--base-url",
        help=f"a running stack (default {DEFAULT_HOST_PORT} on localhost, started if down)",
    )
    gen.add_argument("--out-dir", type=Path, default=Path("generated-images"))
    gen.add_argument("--data-dir", type=Path, default=Path(".devstack-data"))
    gen.add_argument("--timeout", type=float, default=600.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "start":
        from devstack.cli import start

        blob = args.azurite_blob_port
        ports = (blob, blob + 1, blob + 2) if blob else (0, 0, 0)
        return start.run(
            app_dir=args.app_dir,
            data_dir=args.data_dir,
            port=args.port,
            emulator_port=args.emulator_port,
            azurite_ports=ports,
            quiet=args.quiet,
        )
    from devstack.cli import generate

    return generate.run(
        args.prompt,
        model=args.model,
        n=args.n,
        size=args.size,
        base_url=args.base_url,
        out_dir=args.out_dir,
        data_dir=args.data_dir,
        timeout=args.timeout,
    )


if __name__ == "__main__":
    sys.exit(main())
