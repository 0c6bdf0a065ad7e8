from tests.findings.conftest import cli, db  # noqa: F401
from tests.store.databases import database_url, fresh_postgres_url  # noqa: F401
