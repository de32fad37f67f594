"""The public API: a sorted __all__ whose names all exist, and one error hierarchy."""

from __future__ import annotations

import inspect

import radhub.radiomics as rad
from radhub.radiomics import errors


def test_all_is_sorted_and_complete() -> None:
    assert rad.__all__ == sorted(rad.__all__)
    for name in rad.__all__:
        assert hasattr(rad, name), name
    public = {
        n
        for n, v in vars(rad).items()
        if not n.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v))
    }
    assert public <= set(rad.__all__) | {"logging"}


def test_errors_derive_from_one_base() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.RadiomicsError) and issubclass(cls, ValueError)


def test_public_functions_are_documented() -> None:
    for name in rad.__all__:
        obj = getattr(rad, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, name
