from tests.store.databases import (  # noqa: F401
    _postgres_template,
    _sqlite_template,
    database_url,
    fresh_postgres_url,
    migrated_database_url,
)
