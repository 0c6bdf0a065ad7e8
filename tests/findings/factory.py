"""Findings files for tests: SARIF logs, prereview JSON, Inspect logs with crash metadata."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalSample,
    EvalSpec,
    write_eval_log,
)
from inspect_ai.scorer import Score

RULES: list[dict[str, Any]] = [
    {
        "id": "heap-overflow",
        "shortDescription": {"text": "Heap buffer overflow"},
        "properties": {"tags": ["security", "external/cwe/cwe-122"], "security-severity": "8.1"},
    },
    {
        "id": "uaf",
        "shortDescription": {"text": "Use after free"},
        "defaultConfiguration": {"level": "error"},
        "relationships": [{"target": {"id": "416", "toolComponent": {"name": "CWE"}}}],
    },
]


def result(i: int, rule: int = 0, **extra: Any) -> dict[str, Any]:
    """A SARIF result at src/file{i}.c line 10+i in function parse_{i}."""
    res: dict[str, Any] = {
        "ruleId": RULES[rule]["id"],
        "ruleIndex": rule,
        "level": "error",
        "message": {"text": f"overflow reachable from record {i}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": f"src/file{i}.c"},
                    "region": {"startLine": 10 + i, "snippet": {"text": "memcpy(d, s, n);"}},
                },
                "logicalLocations": [{"name": f"parse_{i}"}],
            }
        ],
    }
    res.update(extra)
    return res


def sarif_log(
    results: list[dict[str, Any]], tool: str = "agent-scanner", **run: Any
) -> dict[str, Any]:
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": tool, "rules": copy.deepcopy(RULES)}},
                "results": results,
                **run,
            }
        ],
    }


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def write_sarif(path: Path, n: int, **kwargs: Any) -> Path:
    return write_json(path, sarif_log([result(i) for i in range(n)], **kwargs))


def eval_log_with_crashes(
    path: Path, scores: list[dict[str, Any]], sample_meta: dict[str, Any] | None = None
) -> Path:
    """An Inspect log with one sample per score-metadata dict (task memsafety_poc)."""
    samples = [
        EvalSample(
            id=f"s{i}",
            epoch=1,
            input="find the bug",
            target="",
            metadata={"instance_id": f"ms-t2-{i:04d}", **(sample_meta or {})},
            scores={"poc_reproduces": Score(value="I", metadata=meta)},
        )
        for i, meta in enumerate(scores)
    ]
    spec = EvalSpec(
        created="2026-11-30T00:00:00+00:00",
        task="memsafety_poc",
        dataset=EvalDataset(samples=len(samples), sample_ids=[s.id for s in samples]),
        model="scripted/x",
        config=EvalConfig(),
    )
    log = EvalLog(eval=spec, samples=samples, status="success")
    write_eval_log(log, str(path))
    return path
