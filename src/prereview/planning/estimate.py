"""How long a task takes at a declared throughput: the planner's time model.

A sample is a chain of `requests` generate calls, each taking the declared latency, plus
`overhead_s` of work that is not the model's (building and scoring in a sandbox). Up to
`max_connections` samples run at once. A rate limit of R requests per minute spaces the calls
60/R seconds apart. The task takes the longer of the two bounds:

    concurrency bound = ceil(n / connections) x (requests x latency + overhead)
    rate bound        = n x requests x 60 / R  +  requests x latency + overhead (the last chain)

plus a fixed start-up cost per task. A per-sample time limit caps the model part of a chain.
benchmarks/bench_planner.py checks the model against real runs of the simulated model.
"""

from __future__ import annotations

import math

from prereview.domain.submission import Throughput


def predict_task_seconds(
    samples: int,
    requests_per_sample: float,
    overhead_s_per_sample: float,
    setup_s: float,
    throughput: Throughput,
    time_limit_s: float | None = None,
) -> float:
    if samples <= 0:
        return 0.0
    model_s = requests_per_sample * throughput.seconds_per_request
    if time_limit_s is not None:  # Inspect stops a sample at its time limit
        model_s = min(model_s, time_limit_s)
    chain = model_s + overhead_s_per_sample
    concurrency_bound = math.ceil(samples / throughput.max_connections) * chain
    rate_bound = 0.0
    if throughput.requests_per_minute:
        rate_bound = samples * requests_per_sample * 60.0 / throughput.requests_per_minute + chain
    return setup_s + max(concurrency_bound, rate_bound)


def requests_for(samples: int, requests_per_sample: float) -> float:
    return samples * requests_per_sample
