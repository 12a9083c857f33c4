"""Progress bars and log lines for long loops.

:func:`progress` wraps an iterable in a ``tqdm`` bar on stderr (count, rate and ETA). Set the
environment variable ``RTL_PROGRESS=0`` to disable every bar (the experiment CLI's ``--no-progress``
does this; the test suite sets it in ``tests/conftest.py``). :func:`log` prints a line without breaking
an active bar.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

ENV_VAR = "RTL_PROGRESS"
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")
#: Seconds between bar refreshes when stderr is not a terminal (CI logs get a line now and then).
NON_TTY_MININTERVAL = 30.0


def progress_enabled() -> bool:
    """Whether bars are shown: ``RTL_PROGRESS`` unset/empty or 1/true/yes/on; 0/false/no/off disable."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value == "" or value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"environment variable {ENV_VAR}={os.environ[ENV_VAR]!r}: expected 0/1 (or true/false)")


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it", leave: bool = True
) -> Iterator[T]:
    """Iterate over ``iterable`` with a tqdm bar on stderr (rate and ETA); plain iteration when disabled.

    ``total`` defaults to ``len(iterable)`` when it has one (tqdm's rule).
    """
    if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
        raise ValueError(f"progress total must be a non-negative int or None, got {total!r}")
    interactive = bool(getattr(sys.stderr, "isatty", lambda: False)())
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=sys.stderr,
        disable=not progress_enabled(),
        dynamic_ncols=True,
        mininterval=0.1 if interactive else NON_TTY_MININTERVAL,
    )


def log(msg: str) -> None:
    """Print ``msg`` to stderr without breaking an active progress bar (``tqdm.write``)."""
    tqdm.write(str(msg), file=sys.stderr)
