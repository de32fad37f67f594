"""Tasks for the process pool tests (importable by spawned workers)."""

from __future__ import annotations

import os
import time


def pid_after(seconds: float = 0.0) -> int:
    time.sleep(seconds)
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def die() -> None:
    os._exit(3)


def unpicklable() -> object:
    return lambda: None


class TwoArgError(Exception):
    """Pickles, but does not unpickle (its args hold one value, its __init__ wants two)."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__(a)
        self.b = b


def raise_two_arg() -> None:
    raise TwoArgError("first", "second")
