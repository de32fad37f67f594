"""Confidence intervals for a binomial proportion."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta

from radhub.stats._validation import check_alpha, check_choice, check_count, z_value
from radhub.stats.errors import EmptyClassError, InvalidCountsError

__all__ = ["CI_METHODS", "clopper_pearson_ci", "proportion_ci", "wilson_ci"]

CI_METHODS = ("wilson", "clopper-pearson", "bootstrap")


def wilson_ci(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927; Newcombe 1998, method 3)."""
    if n == 0:
        return (math.nan, math.nan)
    z = z_value(alpha)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # guard against rounding putting the bound a hair past the estimate
    return (min(low, p), max(high, p))


def clopper_pearson_ci(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Clopper-Pearson 'exact' interval from beta quantiles (Clopper & Pearson 1934)."""
    if n == 0:
        return (math.nan, math.nan)
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return (low, high)


def bootstrap_proportion_ci(
    successes: int, n: int, alpha: float = 0.05, *, n_boot: int = 2000, seed: int | None = None
) -> tuple[float, float]:
    """Percentile bootstrap interval: resample ``n`` Bernoulli trials ``n_boot`` times."""
    if n == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = rng.binomial(n, successes / n, size=n_boot) / n
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def proportion_ci(
    successes: int,
    n: int,
    method: str = "wilson",
    alpha: float = 0.05,
    *,
    n_boot: int = 2000,
    seed: int | None = None,
) -> tuple[float, float]:
    """Confidence interval of the proportion ``successes / n``.

    Parameters
    ----------
    successes, n : int
        Number of successes and of trials (``0 <= successes <= n``, ``n > 0``).
    method : {"wilson", "clopper-pearson", "bootstrap"}
        Wilson score interval (default), Clopper-Pearson exact interval, or
        percentile bootstrap (binomial resampling, seeded by ``seed``).
    alpha : float
        1 - confidence level (0.05 gives a 95% interval).
    n_boot, seed : int
        Bootstrap replicates and random seed (bootstrap only).

    Returns
    -------
    tuple of float
        ``(low, high)``.

    Raises
    ------
    InvalidCountsError
        Negative or non-integer counts, or ``successes > n``.
    EmptyClassError
        ``n == 0``.

    Examples
    --------
    >>> [round(x, 4) for x in proportion_ci(83, 100)]
    [0.7443, 0.8907]
    """
    successes = check_count("successes", successes)
    n = check_count("n", n)
    alpha = check_alpha(alpha)
    check_choice("method", method, CI_METHODS)
    if successes > n:
        raise InvalidCountsError(f"successes ({successes}) cannot exceed n ({n})")
    if n == 0:
        raise EmptyClassError("n is 0: a proportion needs at least one trial")
    if method == "wilson":
        return wilson_ci(successes, n, alpha)
    if method == "clopper-pearson":
        return clopper_pearson_ci(successes, n, alpha)
    return bootstrap_proportion_ci(successes, n, alpha, n_boot=n_boot, seed=seed)
