"""Inspect model providers shipped with prereview: `local` (GGUF via llama.cpp), `scripted`
(replayed turns) and `simulated` (scripted behind a latency and a rate limit); `catalog`
resolves the embedded models. Import the modules themselves: loading a provider loads Inspect.
"""
