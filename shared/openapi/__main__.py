"""Regenerate (or check) the checked-in connector files from the models.

python -m shared.openapi            # print the connector's Swagger 2.0 definition
python -m shared.openapi --write    # rewrite connector/apiDefinition.swagger.json + Postman,
                                    # and the generated tables in docs/ (doc_tables.py)
python -m shared.openapi --check    # exit 1 if any of them is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.openapi.files import CONNECTOR_DIR, render_docs, render_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.openapi", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--write", action="store_true", help="rewrite the connector files and docs tables"
    )
    group.add_argument("--check", action="store_true", help="fail if they are stale")
    parser.add_argument("--dir", type=Path, default=CONNECTOR_DIR, help="connector folder")
    args = parser.parse_args(argv)
    files = render_files()
    if not (args.write or args.check):
        sys.stdout.write(files["apiDefinition.swagger.json"])
        return 0
    targets = {args.dir / name: text for name, text in files.items()}
    targets.update(render_docs())
    stale = []
    for path, text in targets.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
        else:
            stale.append(str(path))
    if stale:
        print(
            f"stale: {', '.join(stale)} — run `python -m shared.openapi --write`", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
