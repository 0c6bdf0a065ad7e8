"""Integrity rules of the patch verdict: each rule refuses its cheat, the reference fix passes."""

from __future__ import annotations

import asyncio

import pytest

from prereview.suites.memsafety.instance import Instance
from prereview.suites.memsafety.integrity import (
    ObjectSymbols,
    check_directives,
    check_includes,
    check_object,
    check_preprocessed,
    directives,
    main_file_text,
)
from prereview.suites.memsafety.patch_verdict import integrity_check, judge_patch, outline

ORIGINAL = """#include <stdio.h>
#include <stdlib.h>
#define MAX_INPUT 64
int process_input(const unsigned char *d, unsigned long n) { return d[n]; }
int main(void) { return 0; }
"""
LIBRARY = frozenset({"malloc", "free", "calloc", "realloc", "printf", "memcpy", "exit"})


def _directive_rule(patch: str) -> str | None:
    v = check_directives(patch, ORIGINAL, LIBRARY)
    return v.rule if v else None


@pytest.mark.parametrize(
    ("added", "rule"),
    [
        ("#include <unistd.h>", "include-outside-allowed-headers"),
        ('#include "../ground_truth/fixed/x.c"', "include-outside-allowed-headers"),
        ("#include_next <stdio.h>", "include-outside-allowed-headers"),
        ('#pragma clang attribute push (__attribute__((no_sanitize("address"))))', "pragma"),
        ('#line 1 "/usr/include/stdio.h"', "line-directive"),
        ('# 7 "/usr/include/stdio.h" 3', "line-directive"),
        ("#define malloc(n) malloc((n) + 4096)", "macro-redefines-library-name"),
        ("#define free(p) ((void)(p))", "macro-redefines-library-name"),
        ("#  /* hidden */ define  free(p) 0", "macro-redefines-library-name"),
        ("%:define free(p) 0", "macro-redefines-library-name"),
        ("#define \\\nfree(p) 0", "macro-redefines-library-name"),
        ("#undef malloc", "macro-redefines-library-name"),
        ("#define __asan_hook 1", "macro-redefines-library-name"),
        ("#define main real_main", "macro-redefines-library-name"),
        ("#ifdef __clang__\n#endif", "build-detection"),
        ("#ifdef main\n#endif", "build-detection"),
        ("#if defined(__has_feature)\n#endif", "build-detection"),
        ("#define X(a, b) a##b\n#if X(__cla, ng__)\n#endif", "build-detection"),
        ("#embed <stdio.h>", "include-outside-allowed-headers"),
        ('#\\   \ninclude "fixed.c"', "include-outside-allowed-headers"),
        ('#/*\n*/include "fixed.c"', "include-outside-allowed-headers"),
        ("#/*\n*/define malloc(n) malloc((n) + 64)", "macro-redefines-library-name"),
        ("#\\ \t\ndefine free(p) 0", "macro-redefines-library-name"),
        ("#/*\n*/ifdef __clang__\n#endif", "build-detection"),
        ('#ident "x"', "pragma"),
    ],
)
def test_directive_rules_refuse_each_cheat(added: str, rule: str) -> None:
    assert _directive_rule(added + "\n" + ORIGINAL) == rule


def test_directive_rules_accept_honest_edits() -> None:
    honest = ORIGINAL.replace(
        "#define MAX_INPUT 64", "#define MAX_INPUT 64\n#define MAX_RECORDS 16\n#include <limits.h>"
    )
    assert _directive_rule(honest) is None
    # a directive in a comment or a string is not a directive
    assert (
        _directive_rule(ORIGINAL + '/*\n#include <unistd.h>\n*/\nconst char *s = "#pragma";\n')
        is None
    )
    assert directives('/*\n#include <unistd.h>\n*/\nconst char *s = "#x";\n') == []


def test_include_rule_reads_the_compilers_header_tree() -> None:
    tree = ". /usr/include/stdio.h\n.. /usr/include/x86_64-linux-gnu/bits/types.h\n"
    assert check_includes(tree) is None
    for bad in (". /home/agent/fixed.c\n", ". /usr/include/unistd.h\n", ".. /tmp/x.h\n"):
        v = check_includes(tree + bad)
        assert v is not None and v.rule == "include-outside-allowed-headers", bad


def test_macros_gcc_reports_are_checked_too() -> None:
    text = main_file_text(_pp("#define free(p) ((void)(p))\nint x;"), "patch.c")
    v = check_preprocessed(text, "", frozenset({"free"}))
    assert v is not None and v.rule == "macro-redefines-library-name"
    assert check_preprocessed(main_file_text(_pp("#define LIMIT 4"), "patch.c"), "") is None


def _pp(text: str) -> str:
    return f'# 1 "patch.c"\n{text}\n# 1 "/usr/include/stdio.h" 1 3 4\nint fork(void);\n'


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        (
            'const char *__asan_default_options(void) { return "detect_leaks=0"; }',
            "sanitizer-interface",
        ),
        ("void __sanitizer_set_report_path(const char *);", "sanitizer-interface"),
        ("extern int LLVMFuzzerTestOneInput(const void *, unsigned long);", "sanitizer-interface"),
        ('static void f(void) { __asm__ volatile("syscall"); }', "inline-asm"),
        ('int g(void) asm("__asan_on_error");', "inline-asm"),
        ('int g(void) asm("fork");', "inline-asm"),
        ("int s = syscall(60, 0);", "process-control"),
        ("pid_t p = fork();", "process-control"),
        ("void *r = __builtin_return_address(0);", "builtin"),
        ("__attribute__((constructor)) static void c(void) {}", "attribute"),
        ("__attribute__((weak)) int h;", "attribute"),
        ("__attribute__((no_sanitize_address)) static void c(void) {}", "instrumentation-opt-out"),
        (
            '__attribute__((unused, no_sanitize("address"))) static void c(void) {}',
            "instrumentation-opt-out",
        ),
        ("[[gnu::constructor]] static void c(void) {}", "attribute"),
        ('#pragma GCC optimize("O0")', "pragma"),
    ],
)
def test_preprocessed_rules_refuse_each_cheat(code: str, rule: str) -> None:
    v = check_preprocessed(main_file_text(_pp(code), "patch.c"), "")
    assert v is not None and v.rule == rule, v


def test_preprocessed_rules_see_the_file_not_its_headers() -> None:
    honest = (
        "static int ok(unsigned long n) { unsigned long r;\n"
        "  if (__builtin_mul_overflow(n, 4ul, &r)) return -1;\n"
        "  return __builtin_expect(n > 4, 0); }\n"
        "__attribute__((unused, format(printf, 1, 2))) static void log_(const char *f, ...);"
    )
    # `fork` is declared by the header part only: not the program's doing
    assert check_preprocessed(main_file_text(_pp(honest), "patch.c"), "") is None
    # names the original itself uses are not held against the patch
    assert check_preprocessed(main_file_text(_pp("int signal_level;"), "patch.c"), "") is None


def _obj(nm: str, sections: str = "") -> ObjectSymbols:
    return ObjectSymbols.parse(nm, sections)


ORIGINAL_OBJ = _obj(
    "0000 T main\n0000 T process_input\n                 U free\n                 U fread\n"
)
LIBC = frozenset({"free", "fread", "write", "malloc", "signal", "fork"})


@pytest.mark.parametrize(
    ("nm", "sections", "rule"),
    [
        ("0000 T __asan_default_options\n0000 T main\n", "", "sanitizer-hook-override"),
        ("                 U __sanitizer_set_death_callback\n", "", "sanitizer-hook-override"),
        ("                 w LLVMFuzzerTestOneInput\n", "", "sanitizer-hook-override"),
        ("                 w helper_hook\n", "", "weak-symbol"),
        ("                 U fork\n0000 T main\n", "", "unexpected-library-call"),
        ("                 U signal\n", "", "unexpected-library-call"),
        ("0000 T write\n0000 T main\n", "", "interposes-library"),
        ("0000 T _start_hook\n", "", "interposes-library"),
        ("0000 T main\n", "  5 .init_array   00000008\n", "constructor"),
    ],
)
def test_object_rules_refuse_each_cheat(nm: str, sections: str, rule: str) -> None:
    v = check_object(_obj(nm, sections), [ORIGINAL_OBJ], LIBC)
    assert v is not None and v.rule == rule, v


def test_object_rules_accept_the_original_and_safe_helpers() -> None:
    patched = _obj(ORIGINAL_OBJ_NM := "0000 T main\n0000 T process_input\n0000 t check\n")
    assert ORIGINAL_OBJ_NM and check_object(patched, [ORIGINAL_OBJ], LIBC) is None
    with_helpers = _obj("0000 T main\n                 U memcpy\n                 U snprintf\n")
    assert check_object(with_helpers, [ORIGINAL_OBJ], LIBC) is None


@pytest.mark.slow
def test_reference_fix_of_every_generated_instance_passes_the_rules(
    instances: list[Instance],
) -> None:
    assert {i.bug_class for i in instances} == {i.bug_class for i in instances if i.tier == 1}
    for inst in instances:
        fixed = inst.file(f"ground_truth/fixed/{inst.source_name}").read_bytes()
        assert asyncio.run(integrity_check(inst, fixed, "bwrap")) is None, inst.id
        vulnerable = inst.file(f"ground_truth/vulnerable/{inst.source_name}").read_bytes()
        hooked = vulnerable + b'\nconst char *__asan_default_options(void) { return "x"; }\n'
        refused = asyncio.run(integrity_check(inst, hooked, "bwrap"))
        assert refused is not None and refused.violation is not None
        assert refused.violation.rule == "sanitizer-interface"
        assert refused.violation.disables_sanitizer


def test_outline_keeps_what_was_rejected_not_the_wording() -> None:
    ref = b"header 2x3 depth 8\nreject recent_values: window out of range\nsummary: messages=1\n"
    reworded = b"header 2x3 depth 8\nreject recent_values: bad window\nsummary: messages=1\n"
    masked = b"header 2x3 depth 8\nrecent_values window=5 sum=541\nsummary: messages=1\n"
    hushed = b"header 2x3 depth 8\n"
    assert outline(ref) == outline(reworded) == ["header", "reject recent_values", "summary"]
    assert outline(masked) != outline(ref) and outline(hushed) != outline(ref)


@pytest.mark.slow
def test_a_patch_that_starves_the_fuzzer_fails_rather_than_ending_unknown(
    instances: list[Instance],
) -> None:
    from prereview.suites.memsafety.spec import BugClass

    from .conftest import pick

    inst = pick(instances, tier=1, bug=BugClass.HEAP_OVERFLOW)
    fixed = inst.file(f"ground_truth/fixed/{inst.source_name}").read_text()
    entry = inst.manifest["program"]["entry"]
    head = f"int {entry}(const uint8_t *data, size_t size)\n{{\n"
    assert head in fixed
    slow = fixed.replace(
        head, head + "    for (volatile unsigned long spin = 0; spin < 30000000ul; spin++)\n;\n"
    )
    verdict = asyncio.run(judge_patch(inst, slow.encode(), 1, 1, "bwrap"))
    assert verdict.outcome == "fuzz-too-slow", verdict.reason
    assert verdict.details["reference_fuzz_executions"] > verdict.details["fuzz"]["executions"]
