from tests.findings.conftest import cli, db  # noqa: F401
from tests.store.databases import (  # noqa: F401
    _postgres_template,
    _sqlite_template,
    migrated_database_url,
)
