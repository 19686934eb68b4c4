"""Look inside a Durable engine database without starting anything.

    python -m devstack.durable list --db .devstack-data/durable.sqlite [--status Running]
    python -m devstack.durable show --db .devstack-data/durable.sqlite INSTANCE_ID [--history]

Read-only, safe while the host runs (WAL): for finding out why an instance is stuck.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devstack.durable.history import public_history
from devstack.durable.status import status_json
from devstack.durable.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.durable")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="every instance, oldest first")
    listing.add_argument("--db", type=Path, required=True)
    listing.add_argument("--status", action="append", help="runtime status to keep (repeatable)")
    show = sub.add_parser("show", help="one instance's status, metrics and queued work")
    show.add_argument("--db", type=Path, required=True)
    show.add_argument("instance_id")
    show.add_argument("--history", action="store_true", help="include the history events")
    args = parser.parse_args(argv)
    if not args.db.exists():
        print(f"no database at {args.db}", file=sys.stderr)
        return 2
    store = Store(args.db)
    try:
        if args.command == "list":
            for inst in store.query_instances(statuses=args.status):
                print(json.dumps(status_json(inst, show_input=False)))
            return 0
        found = store.get_instance(args.instance_id)
        if found is None:
            print(f"no instance {args.instance_id!r}", file=sys.stderr)
            return 1
        inst = found
        out = status_json(inst)
        out["metrics"] = {
            "actionsScheduled": inst.actions_scheduled,
            "episodes": inst.episodes,
            "historyBytes": inst.history_bytes,
        }
        out["queued"] = {
            "inbox": [
                row.event.get("EventType", row.kind) for row in store.inbox_for(inst.instance_id)
            ],
            "activities": [
                a.name for a in store.pending_activities(0) if a.instance_id == inst.instance_id
            ],
        }
        if args.history:
            out["historyEvents"] = public_history(store.load_history(inst.instance_id), True)
        print(json.dumps(out, indent=2))
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
