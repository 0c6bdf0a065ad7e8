"""`prereview keys`: the keys this store depends on, and rotation of the key-encryption key
(coordinators only)."""

from __future__ import annotations

from typing import Any

from rich.table import Column, Table
from sqlalchemy import func, select

from prereview.cli.common import (
    JsonOption,
    api,
    console,
    emit_json,
    new_app,
    remote,
    settings,
    shown,
)
from prereview.store.tables.vault import DataKeyRow, VaultKeyRow
from prereview.vault.policy import Operation, Resource
from prereview.vault.service import open_session

app = new_app("Show the store's keys; rotate the key-encryption key.")


@app.command("list")
def list_keys(json_out: bool = JsonOption) -> None:
    """Key ids (never key material), their kind, and what each wraps."""
    rows: list[dict[str, Any]] = api("GET", "/api/v1/keys") if remote() else _keys_here()
    if json_out:
        emit_json(rows)
        return
    table = Table("kind", "status", "created", "retired", "data keys")
    table.columns.insert(0, Column("key", no_wrap=True))  # ids are what one compares
    for r in rows:
        table.add_row(
            shown(r["key_id"]),
            shown(r["kind"]),
            shown(r["status"]),
            str(r["created_at"])[:16].replace("T", " "),
            str(r["retired_at"] or "-")[:16].replace("T", " "),
            "-" if r["data_keys"] is None else str(r["data_keys"]),
        )
    console.print(table)


def _keys_here() -> list[dict[str, Any]]:
    session = open_session(settings())
    with session.vault:
        session.guard.require(Operation.KEYS_MANAGE, Resource.system())
        with session.vault.db.session() as s:
            counts = dict(
                s.execute(
                    select(DataKeyRow.kek_id, func.count())
                    .where(DataKeyRow.wrapped_key.is_not(None))
                    .group_by(DataKeyRow.kek_id)
                ).all()
            )
            rows: list[dict[str, Any]] = [
                {
                    "key_id": k.key_id,
                    "kind": k.kind,
                    "provider": k.provider,
                    "status": "retired" if k.retired_at else "active",
                    "created_at": k.created_at.isoformat(),
                    "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                    "data_keys": counts.get(k.key_id, 0) if k.kind == "kek" else None,
                }
                for k in s.scalars(select(VaultKeyRow).order_by(VaultKeyRow.created_at))
            ]
    return rows


@app.command()
def rotate(json_out: bool = JsonOption) -> None:
    """Rewrap every live data key under a new key-encryption key; retire and destroy the old.

    Nothing sealed is re-encrypted (the data keys stay), so this takes a moment whatever the
    store's size. Back up the new key file (`<data dir>/keys/kek.key`) afterwards: backups of
    the old one no longer open this store.
    """
    if remote():
        result: dict[str, Any] = api("POST", "/api/v1/keys/rotate")
    else:
        session = open_session(settings())
        with session.vault:
            session.guard.require(Operation.KEYS_MANAGE, Resource.system())
            rotated = session.vault.rotate_kek()
            session.guard.record(
                "keys.rotate",
                "ok",
                target=f"key-encryption key {rotated.new_kek_id}",
                detail=rotated.as_dict(),
            )
        result = rotated.as_dict()
    if json_out:
        emit_json(result)
        return
    console.print(
        f"key-encryption key rotated: {result['old_kek_id']} retired, {result['new_kek_id']} "
        f"active; {result['rewrapped']} data keys rewrapped ({result['shredded']} shredded ones "
        "had none). Back up the new key file now."
    )
