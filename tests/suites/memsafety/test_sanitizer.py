from __future__ import annotations

from prereview.suites.memsafety.sanitizer import parse_report, redact_paths

HEAP = """=================================================================
==9349==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x60200000001a at pc 0x55
WRITE of size 30 at 0x60200000001a thread T0
    #0 0x7f6530848060 in __interceptor_memcpy ../../src/libsanitizer/interceptors.inc:827
    #1 0x55d60fb935c9 in handle_store /tmp/inst/ms-t1-x/ground_truth/vulnerable/gw.c:118
    #2 0x55d60fb93700 in dispatch /tmp/inst/ms-t1-x/ground_truth/vulnerable/gw.c:300
    #4 0x55d60fb931b0 in _start (/tmp/inst/ms-t1-x/build/vulnerable+0x21b0)
"""

DOUBLE = """==9355==ERROR: AddressSanitizer: attempting double-free on 0x602000000010 in thread T0:
    #0 0x7fd5b74b76a8 in __interceptor_free ../../src/libsanitizer/asan/asan_malloc_linux.cpp:52
    #1 0x5631e9d0272f in close_stream /w/gw.c:15
"""

UBSAN = """gw.c:16:59: runtime error: index 9 out of bounds for type 'uint16_t [8]'
    #0 0x55 in handle_points /w/gw.c:16
"""


def test_first_frame_in_the_program_is_the_location() -> None:
    r = parse_report(HEAP, "gw.c")
    assert r is not None
    assert (r.kind, r.access, r.function, r.file, r.line) == (
        "heap-buffer-overflow",
        "WRITE",
        "handle_store",
        "gw.c",
        118,
    )
    assert r.matches(
        {
            "kind": "heap-buffer-overflow",
            "access": "WRITE",
            "function": "handle_store",
            "file": "gw.c",
            "line": 118,
        }
    )
    assert not r.matches(
        {
            "kind": "heap-buffer-overflow",
            "access": "WRITE",
            "function": "handle_store",
            "file": "gw.c",
            "line": 119,
        }
    )
    assert not r.matches(
        {
            "kind": "heap-buffer-overflow",
            "access": "READ",
            "function": "handle_store",
            "file": "gw.c",
            "line": 118,
        }
    )


def test_double_free_and_ubsan_reports() -> None:
    d = parse_report(DOUBLE, "gw.c")
    assert d is not None and (d.kind, d.access, d.function, d.line) == (
        "double-free",
        None,
        "close_stream",
        15,
    )
    u = parse_report(UBSAN, "gw.c")
    assert u is not None and (u.kind, u.function, u.line) == (
        "undefined-behavior",
        "handle_points",
        16,
    )
    assert "out of bounds" in u.summary
    assert parse_report("all good\nsummary: messages=3 rejected=0\n", "gw.c") is None


def test_reports_shown_to_agents_lose_their_directories() -> None:
    text = redact_paths(HEAP)
    assert "/tmp/inst" not in text and "ground_truth" not in text
    assert "handle_store gw.c:118" in text and "(vulnerable+0x21b0)" in text
