"""Difficulty at 50% success: where a logistic curve of success against difficulty crosses one half.

This follows METR's "time horizon" (Kwa et al., 2025, "Measuring AI Ability to Complete Long
Tasks"): fit P(success) = sigmoid(a + b·x) to every graded attempt, where x is a difficulty axis
(the task tier, or log2 of the time a non-AI baseline needed on the same instance), and report
x50 = -a/b. The interval comes from a cluster bootstrap over instances (attempts on one instance
are not independent), drawn from a seeded generator so the same data and seed give the same
interval.

Few tiers and small samples often separate perfectly (every tier-2 attempt succeeds, every tier-3
one fails), where the plain maximum-likelihood slope is infinite. A weak ridge penalty on the
slope of the standardized axis keeps the fit finite without moving the crossing point of such
data; `penalty=0` gives the plain fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.special import expit

FloatArray = npt.NDArray[np.float64]

DEFAULT_PENALTY = 0.1
_MAX_STEP = 5.0
_MAX_ITER = 200
_TOL = 1e-10

Status = Literal["estimated", "above_range", "below_range", "not_decreasing", "no_data"]


@dataclass(frozen=True)
class LogisticFit:
    """P(success) = sigmoid(intercept + slope·x) on the original axis."""

    intercept: float
    slope: float

    @property
    def x50(self) -> float | None:
        """Where the curve crosses 1/2; None unless success falls as difficulty rises."""
        return -self.intercept / self.slope if self.slope < 0 else None


@dataclass(frozen=True)
class DifficultyEstimate:
    """The 50%-success difficulty with its bootstrap interval and how much to trust it.

    `status` says why there may be no number: every attempt succeeded (the 50% point lies above
    the hardest difficulty tested), none did (below the easiest), or success does not fall with
    difficulty at all. `low`/`high` may be infinite when bootstrap samples hit those cases.
    """

    status: Status
    x50: float | None
    low: float | None
    high: float | None
    slope: float | None
    tested_min: float | None
    tested_max: float | None
    attempts: int
    instances: int
    replicates: int
    undefined_replicates: int
    seed: int
    confidence: float
    penalty: float

    @property
    def extrapolated(self) -> bool:
        """The point estimate lies outside the range of difficulties actually tested."""
        if self.x50 is None or self.tested_min is None or self.tested_max is None:
            return False
        return not self.tested_min <= self.x50 <= self.tested_max


def _fit_batch(x: FloatArray, trials: FloatArray, hits: FloatArray, penalty: float) -> FloatArray:
    """Penalized logistic fits on grouped data, one per row; returns (B, 2): a, b.

    `x` holds the V distinct difficulties, `trials` and `hits` (B×V) the (weighted) attempts and
    successes at each: the same likelihood as one Bernoulli term per attempt, at a cost that
    grows with V, not with the number of attempts. Damped Newton on a strictly convex
    objective (every row must hold both outcomes).
    """
    rows = trials.shape[0]
    a = np.zeros(rows)
    b = np.zeros(rows)
    xx = x * x
    for _ in range(_MAX_ITER):
        p = expit(a[:, None] + b[:, None] * x[None, :])
        r = trials * p - hits
        ga = r.sum(axis=1)
        gb = (r * x).sum(axis=1) + penalty * b
        s = trials * p * (1.0 - p)
        haa = s.sum(axis=1) + 1e-12
        hab = (s * x).sum(axis=1)
        hbb = (s * xx).sum(axis=1) + penalty + 1e-12
        det = haa * hbb - hab * hab
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        size = np.maximum(np.abs(da), np.abs(db))
        scale = np.maximum(1.0, size / _MAX_STEP)
        a -= da / scale
        b -= db / scale
        if float(size.max()) < _TOL:
            break
    return np.stack([a, b], axis=1)


def _grouped(
    x: FloatArray, y: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Distinct difficulties with the summed weights and weighted successes at each."""
    levels, at = np.unique(x, return_inverse=True)
    trials = np.bincount(at, weights=w, minlength=len(levels)).astype(np.float64)
    hits = np.bincount(at, weights=w * y, minlength=len(levels)).astype(np.float64)
    return levels, trials[None, :], hits[None, :]


def fit_logistic(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    penalty: float = DEFAULT_PENALTY,
) -> LogisticFit:
    """Logistic regression of success on one difficulty axis (ridge on the standardized slope)."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    ws = np.ones_like(xs) if weights is None else np.asarray(weights, dtype=np.float64)
    if xs.shape != ys.shape or xs.shape != ws.shape or xs.ndim != 1:
        raise ValueError("x, y and weights must be 1-d and of equal length")
    if not np.isfinite(xs).all():
        raise ValueError("difficulty values must be finite")
    total = ws.sum()
    hits = (ws * ys).sum()
    if total <= 0 or hits <= 0 or hits >= total:
        raise ValueError("a logistic fit needs both successes and failures")
    centre, spread = _standardizer(xs, ws)
    levels, trials, hits_at = _grouped(xs, ys, ws)
    a, b = _fit_batch((levels - centre) / spread, trials, hits_at, penalty)[0]
    slope = float(b) / spread
    return LogisticFit(intercept=float(a) - slope * centre, slope=slope)


def _standardizer(x: FloatArray, w: FloatArray | None = None) -> tuple[float, float]:
    """Weighted mean and standard deviation, so that a weight acts exactly like repeated rows."""
    weights = np.ones_like(x) if w is None else w
    centre = float(np.average(x, weights=weights))
    spread = float(np.sqrt(np.average((x - centre) ** 2, weights=weights)))
    return centre, spread if spread > 0 else 1.0


_CHUNK_CELLS = 4_000_000
"""Bootstrap resamples are drawn and fitted in chunks of about this many count cells."""


def _bootstrap_x50(
    x: FloatArray,
    y: FloatArray,
    cluster: npt.NDArray[np.intp],
    k: int,
    seed: int,
    replicates: int,
    penalty: float,
) -> FloatArray:
    """x50 of each cluster-bootstrap resample: +inf where the resample holds no failure, -inf
    where it holds no success, NaN where success does not fall with difficulty."""
    centre, spread = _standardizer(x)
    levels, at = np.unique(x, return_inverse=True)
    shape = (k, len(levels))
    # attempts and successes of each cluster at each distinct difficulty
    per_trials = csr_matrix((np.ones_like(x), (cluster, at)), shape=shape)
    per_hits = csr_matrix((y, (cluster, at)), shape=shape)
    scaled = (levels - centre) / spread
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // max(k, 1))
    values = np.full(replicates, np.nan)
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        # each resample draws k clusters with replacement; counts[r, c] = times cluster c drawn
        drawn = rng.integers(0, k, size=(size, k)) + (np.arange(size) * k)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * k).reshape(size, k).astype(np.float64)
        trials = np.asarray(per_trials.T @ counts.T).T
        hits = np.asarray(per_hits.T @ counts.T).T
        total, won = trials.sum(axis=1), hits.sum(axis=1)
        block = np.full(size, np.nan)
        block[won >= total] = np.inf
        block[won <= 0] = -np.inf
        mixed = (won > 0) & (won < total)
        if mixed.any():
            params = _fit_batch(scaled, trials[mixed], hits[mixed], penalty)
            a, b = params[:, 0], params[:, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                block[mixed] = np.where(b < 0, centre + spread * (-a / b), np.nan)
        values[start : start + size] = block
    return values


def difficulty_at_50(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    clusters: Sequence[str],
    *,
    seed: int,
    replicates: int = 2000,
    confidence: float = 0.95,
    penalty: float = DEFAULT_PENALTY,
) -> DifficultyEstimate:
    """x50 with a percentile interval from `replicates` cluster-bootstrap resamples of instances.

    `clusters` names the instance of each attempt; resampling whole instances keeps the
    dependence between attempts on one instance out of the interval's width.
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if not (len(xs) == len(ys) == len(clusters)):
        raise ValueError("x, y and clusters must have equal length")
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    labels, index = np.unique(np.asarray(clusters, dtype=object).astype(str), return_inverse=True)

    def result(
        status: Status,
        x50: float | None = None,
        low: float | None = None,
        high: float | None = None,
        slope: float | None = None,
        undefined: int = 0,
    ) -> DifficultyEstimate:
        return DifficultyEstimate(
            status=status,
            x50=x50,
            low=low,
            high=high,
            slope=slope,
            tested_min=float(xs.min()) if len(xs) else None,
            tested_max=float(xs.max()) if len(xs) else None,
            attempts=len(xs),
            instances=len(labels),
            replicates=replicates if status == "estimated" else 0,
            undefined_replicates=undefined,
            seed=seed,
            confidence=confidence,
            penalty=penalty,
        )

    if len(xs) == 0:
        return result("no_data")
    if ys.min() == 1.0:
        return result("above_range")
    if ys.max() == 0.0:
        return result("below_range")
    fit = fit_logistic(xs, ys, penalty=penalty)
    if fit.x50 is None:
        return result("not_decreasing", slope=fit.slope)

    values = _bootstrap_x50(xs, ys, index, len(labels), seed, replicates, penalty)
    defined = values[~np.isnan(values)]
    undefined = int(replicates - len(defined))
    if len(defined) == 0:
        return result("estimated", x50=fit.x50, slope=fit.slope, undefined=undefined)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail], method="inverted_cdf")
    return result(
        "estimated",
        x50=fit.x50,
        low=float(low),
        high=float(high),
        slope=fit.slope,
        undefined=undefined,
    )
