"""How long a task takes at a declared throughput: the planner's time model.

A sample is a chain of `requests` generate calls, each taking the declared latency, plus
`overhead_s` of work that is not the model's (building and scoring in a sandbox). Up to
`max_connections` samples run at once. A rate limit of R requests per minute spaces the calls
60/R seconds apart. The task takes the longer of the two bounds:

    concurrency bound = ceil(n / connections) x (requests x latency + overhead)
    rate bound        = n x requests x 60 / R  +  requests x latency + overhead (the last chain)

plus a fixed start-up cost per task. benchmarks/bench_planner.py checks it against real runs of
the simulated model.
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
) -> float:
    if samples <= 0:
        return 0.0
    chain = requests_per_sample * throughput.seconds_per_request + overhead_s_per_sample
    concurrency_bound = math.ceil(samples / throughput.max_connections) * chain
    rate_bound = 0.0
    if throughput.requests_per_minute:
        rate_bound = samples * requests_per_sample * 60.0 / throughput.requests_per_minute + chain
    return setup_s + max(concurrency_bound, rate_bound)


def requests_for(samples: int, requests_per_sample: float) -> float:
    return samples * requests_per_sample
