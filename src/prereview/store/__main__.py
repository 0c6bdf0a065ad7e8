"""Developer commands for migrations: `python -m prereview.store revision|upgrade|heads`."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command

from prereview.store.migration import MIGRATIONS_DIR, alembic_config, migrate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m prereview.store")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rev = sub.add_parser("revision", help="create a revision on a branch")
    rev.add_argument("--branch", required=True)
    rev.add_argument("--message", "-m", required=True)
    rev.add_argument("--id", help="revision id (default <branch>_<NNNN>_<slug>)")
    rev.add_argument("--autogenerate", action="store_true")
    rev.add_argument("--depends-on", default=None)
    up = sub.add_parser("upgrade", help="upgrade a database to all heads")
    up.add_argument("url")
    sub.add_parser("heads", help="show branch heads")
    args = parser.parse_args(argv)

    if args.cmd == "upgrade":
        print(migrate(args.url))
        return
    if args.cmd == "heads":
        command.heads(alembic_config(), verbose=True)
        return

    branch_dir = MIGRATIONS_DIR / "versions" / args.branch
    existing = sorted(branch_dir.glob(f"{args.branch}_*.py"))
    new_branch = not existing
    slug = "_".join(args.message.lower().split())[:40]
    rev_id = args.id or f"{args.branch}_{len(existing) + 1:04d}_{slug}"
    branch_dir.mkdir(parents=True, exist_ok=True)
    (branch_dir / "__init__.py").touch()
    with tempfile.TemporaryDirectory() as tmp:
        # autogenerate compares against a scratch SQLite database migrated to all heads
        url = f"sqlite:///{Path(tmp) / 'scratch.db'}"
        if args.autogenerate:
            migrate(url)
        command.revision(
            alembic_config(url),
            message=args.message,
            autogenerate=args.autogenerate,
            rev_id=rev_id,
            head="0001_root" if new_branch else f"{args.branch}@head",
            branch_label=args.branch if new_branch else None,
            version_path=str(branch_dir),
            depends_on=args.depends_on,
        )


if __name__ == "__main__":
    main()
