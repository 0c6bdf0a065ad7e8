"""The review fixtures (an initialized install, a submitter and the coordinator), for the
plug-in family's end-to-end test."""

from tests.review.conftest import (  # noqa: F401
    as_submitter,
    install,
    reviewer,
    service,
    services,
)
from tests.store.databases import (  # noqa: F401
    _postgres_template,
    _sqlite_template,
    migrated_database_url,
)
