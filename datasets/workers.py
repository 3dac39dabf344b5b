"""Worker processes for the offline generators, that stop at once on Ctrl-C.

A terminal sends SIGINT to the whole foreground process group. Workers of a plain process
pool each raise KeyboardInterrupt (a traceback apiece) while the parent waits for them to
finish their jobs; here workers ignore SIGINT, and the parent, which gets it, cancels the
remaining jobs and terminates the workers before the interrupt goes on up.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

J = TypeVar("J")
R = TypeVar("R")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def ordered_map(function: Callable[[J], R], jobs: Iterable[J], workers: int) -> Iterator[R]:
    """`function(job)` for every job, computed by `workers` processes, yielded in order.

    If the consumer stops early (an exception, Ctrl-C, a closed pipe, or just closing this
    generator), the jobs not yet done are dropped and the workers terminated.
    """
    in_main = threading.current_thread() is threading.main_thread()
    # Also set while the workers are forked, so that none is ever without the setting.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        pool = multiprocessing.get_context().Pool(workers, initializer=_ignore_sigint)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    try:
        yield from pool.imap(function, jobs)
    except BaseException:
        pool.terminate()
        raise
    else:
        pool.close()
    finally:
        pool.join()


__all__ = ["ordered_map"]
