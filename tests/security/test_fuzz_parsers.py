"""Short fuzz runs of every parser that reads outside input: SARIF, prereview's JSON form, Inspect
eval logs, GGUF headers and the config file. Each starts from a valid input built here, mutates
its bytes or its fields, and adds plain random input; whatever comes in, the parser either
accepts it or raises its documented error, with a one-line message. Never another exception.

The example counts are small (a few seconds per parser); raise `FUZZ_EXAMPLES` for a longer run.
"""

from __future__ import annotations

import copy
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prereview.config import ConfigError, load_settings
from prereview.findings.intake import IntakeError, read_findings
from prereview.models.catalog import InvalidModelFileError, check_gguf
from tests.findings.factory import eval_log_with_crashes, result, sarif_log
from tests.security.test_hostile_input import gguf_header

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # CI runs are repeatable; a longer local run explores further
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc) and str(exc).strip(), repr(exc)


# --- byte-level mutation, shared by every parser -------------------------------------------

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 30), st.integers(1, 255)),
    st.tuples(st.just("set"), st.integers(0, 1 << 30), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 30), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 30), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 30), st.just(0)),
)


def mutate(data: bytes, mutations: list[tuple[str, int, Any]]) -> bytes:
    out = bytearray(data)
    for op, at, arg in mutations:
        if not out:
            break
        i = at % len(out)
        if op == "flip":
            out[i] ^= arg
        elif op == "set":
            out[i] = arg
        elif op == "insert":
            out[i:i] = arg
        elif op == "delete":
            del out[i : i + arg]
        else:
            del out[i:]
    return bytes(out)


mutations = st.lists(_mutation, min_size=1, max_size=6)

# JSON values of every kind, to put where a field is expected
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, as a tuple of keys and indexes."""
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _paths(value, (*prefix, i))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def _field_fuzz(doc: Any) -> st.SearchStrategy[Any]:
    """`doc` with one or two of its nodes replaced by arbitrary JSON values."""
    places = _paths(doc)

    def apply(changes: list[tuple[int, Any]]) -> Any:
        out = doc
        for index, value in changes:
            path = places[index % len(places)]
            try:
                out = _replace(out, path, value)
            except (KeyError, IndexError, TypeError):  # an earlier change removed the place
                continue
        return out

    return st.lists(st.tuples(st.integers(0, 10_000), json_values), min_size=1, max_size=2).map(
        apply
    )


def _findings_file(path: Path, data: bytes, fmt: str | None) -> None:
    path.write_bytes(data)
    try:
        read_findings(path, format=fmt)
    except IntakeError as exc:
        _one_line(exc)


# --- SARIF ---------------------------------------------------------------------------------

SARIF = sarif_log(
    [
        result(0),
        result(
            1, rule=1, stacks=[{"frames": [{"location": {"logicalLocations": [{"name": "f"}]}}]}]
        ),
        result(2, partialFingerprints={"h": "1"}, properties={"cvss": "CVSS:3.1/AV:N"}),
    ],
    artifacts=[{"location": {"uri": "src/a.c"}}],
    originalUriBaseIds={"SRCROOT": {"uri": "file:///w/"}},
)
SARIF_BYTES = json.dumps(SARIF).encode()


@FUZZ
@given(mutations)
def test_sarif_bytes(tmp_path: Path, changes: list[tuple[str, int, Any]]) -> None:
    _findings_file(tmp_path / "f.sarif", mutate(SARIF_BYTES, changes), "sarif")


@FUZZ
@given(_field_fuzz(SARIF))
def test_sarif_fields(tmp_path: Path, doc: Any) -> None:
    _findings_file(tmp_path / "f.sarif", json.dumps(doc).encode(), "sarif")


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_random_input_any_format(tmp_path: Path, data: bytes) -> None:
    _findings_file(tmp_path / "f.sarif", data, None)


# --- prereview's JSON form -----------------------------------------------------------------

FORM = {
    "format": "prereview-findings/1",
    "tool": "scanner",
    "findings": [
        {
            "rule": "heap-buffer-overflow",
            "title": "Heap overflow in TLV parser",
            "description": "details",
            "level": "error",
            "location": {"file": "src/tlv.c", "line": 88, "column": 5, "function": "read_tlv"},
            "fingerprint": "id-1",
            "crash": {"kind": "heap-buffer-overflow", "frames": ["read_tlv", "main"]},
            "cwe": "CWE-122",
            "cvss": ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"],
            "security_severity": 8.1,
            "product": "pkg:github/example/tlvlib@1.2.0",
            "evidence": "poc",
            "stack": ["#0 read_tlv src/tlv.c:88"],
        }
    ],
}
FORM_BYTES = json.dumps(FORM).encode()


@FUZZ
@given(mutations)
def test_json_form_bytes(tmp_path: Path, changes: list[tuple[str, int, Any]]) -> None:
    _findings_file(tmp_path / "f.json", mutate(FORM_BYTES, changes), "json")


@FUZZ
@given(_field_fuzz(FORM))
def test_json_form_fields(tmp_path: Path, doc: Any) -> None:
    _findings_file(tmp_path / "f.json", json.dumps(doc).encode(), "json")


# --- Inspect eval logs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def eval_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("eval") / "log.eval"
    crashes = [{"kind": "SEGV", "frames": ["a", "b"], "file": "x.c", "line": 3}]
    return eval_log_with_crashes(path, [{"new_crashes": crashes}]).read_bytes()


@FUZZ
@given(mutations)
def test_eval_log_bytes(
    tmp_path: Path, eval_bytes: bytes, changes: list[tuple[str, int, Any]]
) -> None:
    _findings_file(tmp_path / "log.eval", mutate(eval_bytes, changes), "crash")


@FUZZ
@given(st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b))
def test_eval_log_random_zip_like(tmp_path: Path, data: bytes) -> None:
    _findings_file(tmp_path / "log.eval", data, "crash")


# --- GGUF headers --------------------------------------------------------------------------

GGUF = gguf_header()


def _gguf(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        check_gguf(path)
    except InvalidModelFileError as exc:
        _one_line(exc)


@FUZZ
@given(mutations)
def test_gguf_bytes(tmp_path: Path, changes: list[tuple[str, int, Any]]) -> None:
    _gguf(tmp_path / "m.gguf", mutate(GGUF, changes))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.integers(4, len(GGUF) - 8),
            st.sampled_from(["<I", "<Q"]),
            st.sampled_from([0, 1, 3, 9, 2**31, 2**32 - 1, 2**63, 2**64 - 1])
            | st.integers(0, 2**32),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_gguf_fields(tmp_path: Path, fields: list[tuple[int, str, int]]) -> None:
    """Counts, lengths, types and alignments overwritten with extreme values at any offset."""
    data = bytearray(GGUF)
    for at, fmt, value in fields:
        struct.pack_into(fmt, data, at, value % (1 << (8 * struct.calcsize(fmt))))
    _gguf(tmp_path / "m.gguf", bytes(data))


@FUZZ
@given(st.binary(max_size=200).map(lambda b: b"GGUF" + b) | st.binary(max_size=64))
def test_gguf_random(tmp_path: Path, data: bytes) -> None:
    _gguf(tmp_path / "m.gguf", data)


# --- the config file -----------------------------------------------------------------------

KEYS = [
    "database_url",
    "token",
    "default_model",
    "model_threads",
    "marking_banner",
    "retention_days",
    "plaintext_dir",
    "key_provider",
    "audit_checkpoint_every",
    "submitters_read_transcripts",
]
toml_values = st.sampled_from(
    ["1", "-5", "0", "1e400", "inf", "-inf", "nan", "3.5", "true", "false", '""', '"x"',
     '"~nobody-here/x"', '"~"', '"a\\u0000b"', "[1, 2]", "[[[]]]", "{a = 1}", "2024-01-01",
     "12:00:00", '"99999999999999999999999"', "'1'"]
) | st.integers(-(2**70), 2**70).map(str) | st.text(max_size=12).map(json.dumps)  # fmt: skip


def _config(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(text)
    env = {"PREREVIEW_HOME": str(tmp_path / "home"), "PREREVIEW_CONFIG": str(path)}
    try:
        load_settings(env)
    except ConfigError as exc:
        _one_line(exc)


@FUZZ
@given(
    st.dictionaries(st.sampled_from(KEYS), toml_values, min_size=1, max_size=4),
    st.booleans(),
)
def test_config_values(tmp_path: Path, values: dict[str, str], section: bool) -> None:
    body = "\n".join(f"{key} = {value}" for key, value in values.items())
    _config(tmp_path, (("[prereview]\n" if section else "") + body).encode())


@FUZZ
@given(mutations)
def test_config_bytes(tmp_path: Path, changes: list[tuple[str, int, Any]]) -> None:
    valid = b'[prereview]\nretention_days = 30\nplaintext_dir = "/tmp/p"\nmodel_threads = 2\n'
    _config(tmp_path, mutate(valid, changes))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_config_random(tmp_path: Path, data: bytes) -> None:
    _config(tmp_path, data)


def test_config_deep_nesting_is_one_line(tmp_path: Path) -> None:
    _config(tmp_path, b"a = " + b"[" * 100_000 + b"]" * 100_000)
