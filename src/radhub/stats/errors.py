"""Errors raised by :mod:`radhub.stats`.

Every error is a :class:`ValueError` so that callers who only know the
standard library can still catch bad input; adapters (CLI, HTTP) convert
:class:`StatsError` into exit code 2 or HTTP 422.

StatsError (ValueError)
 +-- InvalidInputError            input the method cannot use
 |    +-- InvalidCountsError      negative, non-integer or all-zero counts
 |    +-- EmptyClassError         a class (condition present/absent) with no cases
 |    +-- InvalidProbabilityError prevalence, alpha ... outside (0, 1)
 |    +-- UnknownCategoryError    a category/label/column that is not in the data
 |    +-- SeriesError             a time series that is too short, has gaps or decreases
 +-- ModelFitError                no forecasting candidate could be fitted
"""

from __future__ import annotations

__all__ = [
    "EmptyClassError",
    "InvalidCountsError",
    "InvalidInputError",
    "InvalidProbabilityError",
    "ModelFitError",
    "SeriesError",
    "StatsError",
    "UnknownCategoryError",
]


class StatsError(ValueError):
    """Base class of all errors raised by :mod:`radhub.stats`."""


class InvalidInputError(StatsError):
    """The input cannot be used by the method (shape, type, missing values, option)."""


class InvalidCountsError(InvalidInputError):
    """Counts are negative, not integers, or all zero."""


class EmptyClassError(InvalidInputError):
    """One of the classes (e.g. condition present or absent) has no cases."""


class InvalidProbabilityError(InvalidInputError):
    """A probability parameter (prevalence, alpha) is outside the open interval (0, 1)."""


class UnknownCategoryError(InvalidInputError):
    """A category, label value or column named by the caller is not in the data."""


class SeriesError(InvalidInputError):
    """A time series is too short, has gaps or duplicate dates, or a cumulative series decreases."""


class ModelFitError(StatsError):
    """No forecasting candidate could be fitted to the series."""
