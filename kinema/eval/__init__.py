"""Measurements: reconstruction quality, judged semantics, speed and memory."""

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(items: Iterable[T], description: str) -> Iterator[T]:
    """`items` with a transient progress bar on stderr, so that stdout stays free for --json."""
    from rich.console import Console
    from rich.progress import track as rich_track

    return iter(rich_track(items, description=description, transient=True, console=Console(stderr=True)))
