"""The persistent store: SQLAlchemy 2 tables, Alembic migrations, and the submission content store.

- `Database(url)` / `open_database(settings)`: engine + `session()` (commit on success). SQLite
  file in the data dir by default, PostgreSQL through `PREREVIEW_DATABASE_URL`.
- `migrate(settings_or_url)`: upgrade to every branch head. `prereview init` runs it; any other
  command refuses a database that is missing or behind and says to run `prereview init`.
- `Base`: the declarative base (one MetaData with a naming convention) for every table.
- `SubmissionContent` (`prereview.store.content`): the only way to write or read the *content*
  of a submission (Inspect logs, transcripts, result payloads, reports). The vault wraps it.

Migrations are Alembic branches, one per domain, all starting at the empty root `0001_root`:

    0001_root ─┬─ review_0001 ─ review_0002 …      (label "review": this package)
               ├─ vault_0001 …                     (label "vault")
               └─ findings_0001 …                  (label "findings")

Adding a branch (say `vault`):

1. Declare tables on `prereview.store.Base` in `store/tables/vault.py` (every module there is
   imported by the Alembic env and by the schema-drift test, which compares the migrated schema
   of SQLite and PostgreSQL with the metadata).
2. Create `store/migrations/versions/vault/` (with an empty `__init__.py`) and its first
   revision: id `vault_0001_<slug>`, `down_revision = "0001_root"`, `branch_labels = ("vault",)`,
   and `depends_on = "review_0001_initial"` (or a later review revision) when it has foreign
   keys into review tables. Autogenerate helps:

       python -m prereview.store revision --branch vault --message "initial" --autogenerate

   Later revisions of the branch use `down_revision = <your previous revision>` and no label.
3. Use `op.batch_alter_table` for ALTERs (the env renders batch mode so SQLite works).
"""

from prereview.store.base import Base, UTCDateTime, new_id, utcnow
from prereview.store.database import Database, DatabaseError, open_database, redact_url
from prereview.store.migration import SchemaStatus, migrate, schema_status

__all__ = [
    "Base",
    "Database",
    "DatabaseError",
    "SchemaStatus",
    "UTCDateTime",
    "migrate",
    "new_id",
    "open_database",
    "redact_url",
    "schema_status",
    "utcnow",
]
