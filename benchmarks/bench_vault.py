"""What confidentiality costs: sealing, the encrypted content store, the audit chain, the policy.

Measures on this machine, in a fresh data dir:
- AES-256-GCM seal and open of one artifact at 1 KiB … 16 MiB (MB/s);
- write and read of a 2 KiB result payload through the vault's content store, against the plain
  file store it wraps (ms per artifact: the overhead includes the data-key lookup and, for the
  guarded store, the policy decision and its audit entry);
- audit appends per second (each: SHA-256 chain link, Ed25519 signature, one SQLite commit,
  and the signed head record in the keys dir moved forward: a second signature, a locked,
  fsync'd file replace), against the same appends without that record, interleaved in one run;
  `audit verify` over the whole trail, one access decision of the policy;
- rotating the key-encryption key over 2,000 live data keys;
- crypto-shredding a submission with 900 artifacts.
Prints a table and writes benchmarks/results/vault.json.

    python benchmarks/bench_vault.py [--payloads 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS_FILE = Path(__file__).parent / "results" / "vault.json"
ROTATION_KEYS = 2000


def _timed(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_envelope() -> list[dict[str, Any]]:
    from prereview.vault.envelope import new_data_key, open_sealed, seal

    key = new_data_key()
    rows = []
    for size in (1 << 10, 64 << 10, 1 << 20, 16 << 20):
        data = secrets.token_bytes(size)
        repeat = max(3, min(200, (64 << 20) // size))
        blob = seal(key, "sub-bench", "a/b", data)
        t_seal = _timed(lambda: seal(key, "sub-bench", "a/b", data), repeat)  # noqa: B023
        t_open = _timed(lambda: open_sealed(key, "sub-bench", "a/b", blob), repeat)  # noqa: B023
        rows.append(
            {
                "bytes": size,
                "seal_mb_s": round(size / t_seal / 1e6, 1),
                "open_mb_s": round(size / t_open / 1e6, 1),
            }
        )
    return rows


def bench_store(home: Path, payloads: int) -> dict[str, Any]:
    os.environ["PREREVIEW_HOME"] = str(home)
    from prereview.config import load_settings
    from prereview.home import initialize_home
    from prereview.store.content import FileSubmissionContent
    from prereview.store.tables.review import OrganizationRow, SubmissionRow
    from prereview.vault.policy import Operation
    from prereview.vault.principals import Role
    from prereview.vault.service import Vault

    initialize_home(load_settings())
    settings = load_settings()
    vault = Vault.open(settings)
    from datetime import date

    with vault.db.session() as s:
        s.add(OrganizationRow(id="org-b", name="Bench Org"))
        s.flush()
        s.add(
            SubmissionRow(
                id="sub-bench",
                organization_id="org-b",
                model_name="m",
                model="openai/m",
                max_connections=1,
                seconds_per_request=1.0,
                release_date=date(2030, 1, 1),
                submitted_on=date(2029, 12, 1),
                window_policy="eo-2026",
                terms_version="2026-01",
                confidentiality="confidential",
                state="in_review",
            )
        )
    payload = secrets.token_bytes(2048)
    plain = FileSubmissionContent(home / "plain")
    coordinator = vault.principals.get("coordinator")
    guarded = vault.session(coordinator).content

    def per_op(write: Callable[[str], None], read: Callable[[str], bytes]) -> tuple[float, float]:
        keys = [f"reviews/r/results/t/{i}.json" for i in range(payloads)]
        start = time.perf_counter()
        for k in keys:
            write(k)
        t_write = (time.perf_counter() - start) / payloads
        start = time.perf_counter()
        for k in keys:
            read(k)
        return t_write, (time.perf_counter() - start) / payloads

    p_w, p_r = per_op(
        lambda k: plain.write("sub-bench", k, payload), lambda k: plain.read("sub-bench", k)
    )
    e_w, e_r = per_op(
        lambda k: vault.content.write("sub-bench", "x/" + k, payload),
        lambda k: vault.content.read("sub-bench", "x/" + k),
    )
    g_w, g_r = per_op(
        lambda k: guarded.write("sub-bench", "g/" + k, payload),
        lambda k: guarded.read("sub-bench", "g/" + k),
    )

    # audit chain and policy; appends with the signed head record (what prereview does) and,
    # interleaved in blocks on the same trail, without it: what the record costs
    entries_before = len(vault.audit.entries())
    from prereview.vault.audit import AuditChain, AuditEvent, AuditHeadAnchor

    class _NoHeadRecord(AuditHeadAnchor):
        def advance(self, seq: int, entry_hash: str, signer: object) -> None:
            return None

    bare = AuditChain(
        vault.db,
        vault.signer,
        vault.audit.checkpoint_every,
        anchor=_NoHeadRecord(vault.audit.anchor.path),
    )
    n, block = 300, 50
    spent = {"anchored": 0.0, "bare": 0.0}
    for b in range(2 * n // block):
        chain, kind = (bare, "bare") if b % 2 else (vault.audit, "anchored")
        start = time.perf_counter()
        for i in range(block):
            chain.append(AuditEvent("bench", "ok", target=f"{kind}{b}-{i}"))
        spent[kind] += time.perf_counter() - start
    vault.audit.append(AuditEvent("bench", "ok", target="last"))  # the record catches up
    append_rate = n / spent["anchored"]
    bare_rate = n / spent["bare"]
    total = len(vault.audit.entries())
    t_verify = _timed(lambda: vault.audit.verify(), 3)
    resource = vault.resolver.submission("sub-bench")
    evaluator, _ = vault.principals.add("eval-b", Role.EVALUATOR, None, "bench")
    t_decide = (
        _timed(
            lambda: [
                vault.policy.decide(evaluator, Operation.RESULTS_READ, resource)
                for _ in range(1000)
            ],
            5,
        )
        / 1000
    )

    # KEK rotation: one unwrap and one wrap per live data key, in one transaction
    for i in range(ROTATION_KEYS):
        vault.keys.key(f"sub-rot-{i:05d}", create=True)
    start = time.perf_counter()
    rotation = vault.rotate_kek()
    t_rotate = time.perf_counter() - start

    start = time.perf_counter()
    record = vault.shredder.shred("sub-bench", "bench")
    t_shred = time.perf_counter() - start
    artifacts = 3 * payloads
    vault.close()
    return {
        "payload_bytes": len(payload),
        "artifacts": payloads,
        "plain_write_ms": round(p_w * 1e3, 3),
        "plain_read_ms": round(p_r * 1e3, 3),
        "encrypted_write_ms": round(e_w * 1e3, 3),
        "encrypted_read_ms": round(e_r * 1e3, 3),
        "guarded_write_ms": round(g_w * 1e3, 3),
        "guarded_read_ms": round(g_r * 1e3, 3),
        "audit_appends_per_s": round(append_rate, 1),
        "audit_appends_per_s_without_head_record": round(bare_rate, 1),
        "audit_entries_before_appends": entries_before,
        "audit_verify_entries": total,
        "audit_verify_s": round(t_verify, 3),
        "policy_decision_us": round(t_decide * 1e6, 2),
        "rotation_data_keys": rotation.rewrapped,
        "rotation_s": round(t_rotate, 3),
        "shred_s": round(t_shred, 3),
        "shred_artifacts": artifacts,
        "shred_store_compacted": record.store_compacted,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--payloads", type=int, default=300)
    args = parser.parse_args()
    envelope = bench_envelope()
    with tempfile.TemporaryDirectory() as tmp:
        store = bench_store(Path(tmp) / "home", args.payloads)
    print(f"{'artifact':>10} {'seal MB/s':>10} {'open MB/s':>10}")
    for row in envelope:
        print(f"{row['bytes']:>10} {row['seal_mb_s']:>10} {row['open_mb_s']:>10}")
    print(f"\nper 2 KiB artifact ({store['artifacts']} each), ms: write / read")
    for kind in ("plain", "encrypted", "guarded"):
        print(f"  {kind:<10} {store[kind + '_write_ms']:>8} / {store[kind + '_read_ms']}")
    print(
        f"\naudit: {store['audit_appends_per_s']} appends/s "
        f"({store['audit_appends_per_s_without_head_record']} without the signed head record); "
        "verify "
        f"{store['audit_verify_entries']} entries in {store['audit_verify_s']} s; "
        f"policy decision {store['policy_decision_us']} µs"
    )
    print(f"KEK rotation of {store['rotation_data_keys']} data keys: {store['rotation_s']} s")
    print(f"shred of {store['shred_artifacts']} artifacts: {store['shred_s']} s")
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "benchmark": "vault",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average_at_end": os.getloadavg()[0],
                "envelope": envelope,
                "store": store,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
