"""The memory-safety family's ladder of non-AI baselines, weakest rung first.

1. `libfuzzer`: libFuzzer from the agent's examples (the family's original baseline);
2. `afl-cmplog`: AFL++ with CmpLog (input-to-state comparison solving) from the same examples;
3. `afl-structure`: AFL++ with CmpLog and a custom post-processor built from the input format's
   description (`format.py`: framing, lengths, checksums, sequence numbers, message sub-headers),
   so every mutant reaches the parser with its checksums and lengths right;
4. `symbolic`: KLEE, where a packaged build runs here (Debian 12 has none: `unavailable`).

`run.py` runs them on an instance; `placement.py` checks an instance's measured difficulty
against its tier's band and regenerates misplaced ones.
"""
