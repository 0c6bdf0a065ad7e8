"""The one exception family the CLI turns into a clear line and exit code 2 (never a traceback)."""


class PrereviewError(Exception):
    """A problem the user can fix; `str(exc)` is one line that says what and how."""

    exit_code = 2
