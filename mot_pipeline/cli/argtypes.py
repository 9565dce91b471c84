"""Argument types for the command lines: numbers with a bound, refused by argparse with one
line (`must be >= 1, got 0`) before any work."""

from __future__ import annotations

import argparse


def _at_least(value: float, low: float, strict: bool) -> None:
    if not (value > low if strict else value >= low):  # `not` so that NaN is refused too
        raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {low:g}, got {value}")


def positive_int(text: str) -> int:
    value = int(text)
    _at_least(value, 1, strict=False)
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    _at_least(value, 0, strict=False)
    return value


def positive_float(text: str) -> float:
    value = float(text)
    _at_least(value, 0, strict=True)
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    _at_least(value, 0, strict=False)
    return value
