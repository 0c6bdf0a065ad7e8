"""Task families: each is a package with its generator, verifier, Inspect tasks and scorers."""
