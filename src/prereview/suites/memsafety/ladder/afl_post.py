"""AFL++'s Python custom mutator for the structure-aware rung.

afl-fuzz loads this file (AFL_PYTHON_MODULE) in its embedded interpreter and, with
AFL_CUSTOM_MUTATOR_ONLY, makes every mutant here. AFL++ keeps in its queue the bytes the program
ran, so the queue holds serialized inputs (phenotypes): each one's genotype (a message list,
`format.py`) is remembered when AFL++ adds it to the queue (`queue_new_entry`), and `fuzz` mutates
that genotype structurally, then serializes it with its lengths, digests, checksums and sequence
numbers right. With CmpLog, `post_process` carries the byte changes input-to-state solving makes
on a queue entry back to its genotype and serializes that. PREREVIEW_FORMAT names the pickled
description and PREREVIEW_DICT the constants the compiler saw compared (AFL_LLVM_DICT2FILE),
both in the run's own work directory.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

_DESC: Any = None
_RNG = random.Random(0)  # noqa: S311 - fuzzing, not secrets
_GENOTYPES: dict[bytes, bytes] = {}
_LAST: tuple[bytes, bytes] = (b"", b"")
_TOKENS: list[bytes] = []
_SEEDS: list[bytes] = []
_PARENT: tuple[bytes, bytes | None] = (b"", None)


def _key(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=12).digest()


def init(seed: int) -> None:
    global _DESC
    from prereview.suites.memsafety.ladder.format import load_description, read_dictionary

    _DESC = load_description(Path(os.environ["PREREVIEW_FORMAT"]))
    _RNG.seed(seed)
    _SEEDS.extend(_DESC.seeds())
    for genotype in _SEEDS:
        _GENOTYPES[_key(_DESC.serialize(genotype))] = genotype
    dictionary = os.environ.get("PREREVIEW_DICT")
    if dictionary:
        _TOKENS.extend(read_dictionary(Path(dictionary)))


def fuzz(buf: bytearray, add_buf: bytearray | None, max_size: int) -> bytearray:
    global _LAST
    genotype = _GENOTYPES.get(_key(bytes(buf))) or _RNG.choice(_SEEDS)
    donor = _GENOTYPES.get(_key(bytes(add_buf or b""))) or _RNG.choice(_SEEDS)
    for _ in range(_RNG.choice((1, 1, 2, 4))):
        genotype = _DESC.mutate(genotype, donor, _RNG, _TOKENS)
    out = _DESC.serialize(genotype)[:max_size]
    _LAST = (out, genotype)
    return bytearray(out)


def queue_get(filename: Any) -> bool:
    """AFL++ picked a queue entry to fuzz: remember it, so the byte changes its comparison
    solving makes on it can be carried back to the entry's genotype (`post_process`)."""
    global _PARENT
    path = filename.decode() if isinstance(filename, bytes) else filename
    try:
        data = Path(path).read_bytes()
    except OSError:
        _PARENT = (b"", None)
        return True
    _PARENT = (data, _GENOTYPES.get(_key(data)))
    return True


def post_process(buf: bytearray) -> bytearray:
    """Inputs made here, or known queue entries, run as they are; a same-length byte change
    AFL++'s CmpLog stage made to the entry being fuzzed runs with its genotype's checksums,
    lengths and sequence numbers recomputed."""
    global _LAST
    data = bytes(buf)
    if data == _LAST[0] or _key(data) in _GENOTYPES:
        return buf
    parent, genotype = _PARENT
    if genotype is None:
        return buf
    carried = _DESC.carry(genotype, parent, data)
    if carried is None:
        return buf
    out = _DESC.serialize(carried)
    _LAST = (out, carried)
    return bytearray(out)


def queue_new_entry(filename_new_queue: Any, filename_orig_queue: Any) -> bool:
    path = (
        filename_new_queue.decode() if isinstance(filename_new_queue, bytes) else filename_new_queue
    )
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    if data == _LAST[0]:
        _GENOTYPES[_key(data)] = _LAST[1]
    return False


def deinit() -> None:
    pass
