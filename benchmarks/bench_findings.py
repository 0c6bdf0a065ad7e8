"""Findings intake at scale: import + dedup + scoring of a generated 100,000-result SARIF file.

Prints a table and writes benchmarks/results/findings.json. Each measured step runs in a fresh
child process, so its memory peak (max RSS) is its own, also stated as a multiple of the file's
size: a plain `json.load` of the file (the baseline), intake alone (`read_findings`: the census,
then the findings), the first import into an empty store (every result new or an in-file
duplicate), and a re-import of the same file (every result a sighting of a known finding).

    python benchmarks/bench_findings.py [--results 100000] [--database-url URL]

Without --database-url the store is a SQLite file in a temporary data dir; PostgreSQL by URL
(e.g. under scripts/with-postgres.sh: --database-url "$PREREVIEW_TEST_POSTGRES_URL").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS_FILE = Path(__file__).parent / "results" / "findings.json"
TARGET_S = 60.0

_RULES = [
    ("heap-buffer-overflow", 122, "Heap buffer overflow"),
    ("stack-buffer-overflow", 121, "Stack buffer overflow"),
    ("use-after-free", 416, "Use after free"),
    ("double-free", 415, "Double free"),
    ("out-of-bounds-read", 125, "Out-of-bounds read"),
    ("integer-overflow", 190, "Integer overflow"),
    ("null-deref", 476, "NULL pointer dereference"),
    ("format-string", 134, "Format string"),
]
_PRODUCTS = [
    "pkg:github/stephane/libmodbus@3.1.10",
    "pkg:github/dnp3/opendnp3@3.1.2",
    "pkg:generic/openssl@3.0.13",
    "cpe:2.3:o:siemens:simatic_s7-1200_firmware:4.5:*:*:*:*:*:*:*",
    "pkg:github/dcmtk/dcmtk@3.6.8",
    "pkg:pypi/unknown-product@1.0",
]
_VECTORS = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:H",
    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
    "CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:N/VC:L/VI:L/VA:H/SC:N/SI:N/SA:N",
]


def generate_sarif(path: Path, n: int, seed: int = 7, duplicate_share: float = 0.05) -> None:
    """A realistic SARIF 2.1.0 log: rules with CWE tags, a third of the results with
    partialFingerprints, a tenth with crash stacks, vectors and products on some, and
    `duplicate_share` of the results repeating an earlier one."""
    rng = random.Random(seed)
    rules = [
        {
            "id": rid,
            "shortDescription": {"text": text},
            "properties": {
                "tags": ["security", f"external/cwe/cwe-{cwe}"],
                "security-severity": "7.5",
            },
        }
        for rid, cwe, text in _RULES
    ]
    results: list[dict[str, Any]] = []
    for i in range(n):
        if i > 10 and rng.random() < duplicate_share:
            results.append(results[rng.randrange(len(results))])
            continue
        r = rng.randrange(len(_RULES))
        res: dict[str, Any] = {
            "ruleId": _RULES[r][0],
            "ruleIndex": r,
            "level": rng.choice(["error", "warning", "note"]),
            "message": {
                "text": f"{_RULES[r][2]} reachable from input record {i} "
                + "x" * rng.randrange(40, 200)
            },
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": f"src/module{i % 997}/file{i}.c",
                            "uriBaseId": "SRCROOT",
                        },
                        "region": {
                            "startLine": 1 + i % 5000,
                            "startColumn": 1 + i % 80,
                            "snippet": {"text": "memcpy(dst, src, len);"},
                        },
                    },
                    "logicalLocations": [
                        {"name": f"parse_{i}", "fullyQualifiedName": f"module{i % 997}::parse_{i}"}
                    ],
                }
            ],
        }
        if i % 3 == 0:
            res["partialFingerprints"] = {"primaryLocationLineHash": f"{i:016x}:1"}
        if i % 10 == 1:
            res["stacks"] = [
                {
                    "frames": [
                        {"location": {"logicalLocations": [{"name": f"fn_{i}_{k}"}]}}
                        for k in range(6)
                    ]
                }
            ]
        props: dict[str, Any] = {}
        if i % 4 == 0:
            props["cvss"] = [_VECTORS[i % len(_VECTORS)]]
        if i % 2 == 0:
            props["purl" if _PRODUCTS[i % 6].startswith("pkg:") else "cpe"] = _PRODUCTS[i % 6]
        if props:
            res["properties"] = props
        results.append(res)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "bench-analyzer", "version": "1.0", "rules": rules}},
                "originalUriBaseIds": {"SRCROOT": {"uri": "file:///work/src/"}},
                "results": results,
            }
        ],
    }
    with path.open("w") as fh:
        json.dump(log, fh)


def _child(target: Any, args: tuple[Any, ...], queue: Any) -> None:
    queue.put(target(*args))


def _measure(target: Any, *args: Any) -> tuple[Any, float, float]:
    """Run `target(*args)` in a fresh process: (its return value, wall seconds, max RSS MiB)."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    start = time.perf_counter()
    proc.start()
    value = queue.get()
    assert proc.pid is not None
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"child failed with status {status}")
    return value, elapsed, usage.ru_maxrss / 1024


def _json_load(path: str) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    with open(path) as fh:
        json.load(fh)
    return time.perf_counter() - start, time.process_time() - cpu


def _intake(path: str) -> tuple[int, float, float]:
    from prereview.findings.intake import read_findings

    start, cpu = time.perf_counter(), time.process_time()
    batch = read_findings(Path(path))
    return len(batch.findings), time.perf_counter() - start, time.process_time() - cpu


def _import(path: str, url: str) -> tuple[dict[str, Any], float, float]:
    from prereview.findings.details import PLAIN_CODECS
    from prereview.findings.ingest import import_findings
    from prereview.store import Database

    start, cpu = time.perf_counter(), time.process_time()
    with Database(url) as db:
        summary = import_findings(db, Path(path), codecs=PLAIN_CODECS)
    return summary.as_dict(), time.perf_counter() - start, time.process_time() - cpu


def _migrate(url: str) -> None:
    from prereview.store import migrate

    migrate(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)

    urls = [args.database_url] if args.database_url else [None]
    if not args.database_url and os.environ.get("PREREVIEW_TEST_POSTGRES_URL"):
        urls.append(os.environ["PREREVIEW_TEST_POSTGRES_URL"])  # `make bench` starts one
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        sarif = Path(tmp) / "bench.sarif"
        generate_sarif(sarif, args.results)
        for url in urls:
            ok &= _bench_backend(sarif, url or f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    return 0 if ok else 1


def _bench_backend(sarif: Path, url: str, args: argparse.Namespace) -> bool:
    size_mb = sarif.stat().st_size / 1e6
    size_mib = sarif.stat().st_size / 2**20
    backend = url.split(":", 1)[0].split("+", 1)[0]
    _migrate(url)
    (load_s, load_cpu), _, load_rss = _measure(_json_load, str(sarif))
    (_, intake_s, intake_cpu), _, intake_rss = _measure(_intake, str(sarif))
    (first, first_s, first_cpu), _, first_rss = _measure(_import, str(sarif), url)
    (again, again_s, again_cpu), _, again_rss = _measure(_import, str(sarif), url)

    rows = [
        ("json.load (baseline)", load_s, load_cpu, load_rss, "", ""),
        ("intake (read only)", intake_s, intake_cpu, intake_rss, "", ""),
        (
            "import, empty store",
            first_s,
            first_cpu,
            first_rss,
            first["new_findings"],
            first["duplicates"],
        ),
        (
            "re-import, same file",
            again_s,
            again_cpu,
            again_rss,
            again["new_findings"],
            again["duplicates"],
        ),
    ]
    print(f"findings import: {args.results:,} SARIF results, {size_mb:.1f} MB, {backend}")
    print(
        f"{'step':<22} {'wall s':>7} {'cpu s':>7} {'x json.load':>12} {'peak MiB':>9} "
        f"{'x file':>7} {'new':>7} {'dupes':>7}"
    )
    for name, secs, cpu, rss, new, dup in rows:
        print(
            f"{name:<22} {secs:>7.2f} {cpu:>7.2f} {secs / load_s:>12.1f} {rss:>9.0f} "
            f"{rss / size_mib:>7.1f} {new!s:>7} {dup!s:>7}"
        )
    verdict = "meets" if first_s <= TARGET_S else "MISSES"
    print(f"target: import <= {TARGET_S:.0f} s -> {verdict} ({first_s:.1f} s)")

    payload = {
        "benchmark": "findings_import",
        "results": args.results,
        "file_mb": round(size_mb, 1),
        "backend": backend,
        "json_load_s": round(load_s, 3),
        "json_load_cpu_s": round(load_cpu, 3),
        "json_load_peak_mib": round(load_rss),
        "json_load_peak_x_file": round(load_rss / size_mib, 1),
        "intake_s": round(intake_s, 3),
        "intake_cpu_s": round(intake_cpu, 3),
        "intake_peak_mib": round(intake_rss),
        "intake_peak_x_file": round(intake_rss / size_mib, 1),
        "import_s": round(first_s, 3),
        "import_cpu_s": round(first_cpu, 3),
        "import_ratio_to_json_load": round(first_s / load_s, 2),
        "import_peak_mib": round(first_rss),
        "import_peak_x_file": round(first_rss / size_mib, 1),
        "import_new_findings": first["new_findings"],
        "import_duplicates": first["duplicates"],
        "reimport_s": round(again_s, 3),
        "reimport_cpu_s": round(again_cpu, 3),
        "reimport_ratio_to_json_load": round(again_s / load_s, 2),
        "reimport_peak_mib": round(again_rss),
        "reimport_peak_x_file": round(again_rss / size_mib, 1),
        "reimport_new_findings": again["new_findings"],
        "reimport_duplicates": again["duplicates"],
        "target_s": TARGET_S,
        "meets_target": first_s <= TARGET_S,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "peak_unit": "MiB, ru_maxrss of the child process that ran the step",
        "peak_x_file": "peak MiB / the file's size in MiB",
        "ratio": "wall seconds of the step / wall seconds of json.load of the same file",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.out.exists():
        try:
            results = json.loads(args.out.read_text())
        except json.JSONDecodeError:
            results = {}
    results[backend] = payload
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")
    return bool(first_s <= TARGET_S)


if __name__ == "__main__":
    sys.exit(main())
