"""Task families. Each family is a package with its generator, verifier, Inspect tasks and scorers."""
