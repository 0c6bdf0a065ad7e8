"""The `prereview` command line: thin Typer commands over the services in the other packages."""
