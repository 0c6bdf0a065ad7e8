from tests.store.databases import database_url, fresh_postgres_url  # noqa: F401
