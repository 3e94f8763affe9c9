# Copyright (c) mmweak contributors.
"""Sharing the CPU cores between jobs that run side by side.

The main job (``tools/run_demo.py``) runs its tasks in parallel lanes. Each
lane marks itself active with a file in a shared folder, named by the
environment variable :data:`LANES_ENV`; before a lane starts a tool it asks
:func:`cpu_share` how many threads (or CPU processes) it may use now: the
machine's cores divided among the lanes still running. A lane that is left
alone therefore gets the whole machine for its remaining jobs.

On a two-core machine two two-thread jobs run about 20x slower than either
alone (the OpenMP threads spin against each other), so the share is
a hard budget, not a hint.
"""
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Optional

LANES_ENV = 'MMWEAK_CPU_LANES_DIR'


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has
    one, else ``os.cpu_count()``)."""
    if hasattr(os, 'sched_getaffinity'):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def active_lanes(lanes_dir: Optional[str] = None) -> int:
    """Number of lanes currently marked active in ``lanes_dir`` (default:
    the folder named by :data:`LANES_ENV`; 1 when there is none)."""
    lanes_dir = lanes_dir or os.environ.get(LANES_ENV)
    if not lanes_dir or not osp.isdir(lanes_dir):
        return 1
    return max(1, len([n for n in os.listdir(lanes_dir)
                       if n.endswith('.lane')]))


def cpu_share(lanes_dir: Optional[str] = None,
              cores: Optional[int] = None) -> int:
    """Threads (or CPU processes) one lane may use now: the cores divided
    among the active lanes, at least 1."""
    cores = cores or available_cores()
    return max(1, cores // active_lanes(lanes_dir))


@contextmanager
def lane(lanes_dir: str, name: str) -> Iterator[str]:
    """Mark lane ``name`` active in ``lanes_dir`` for the ``with`` block
    (the mark is removed however the block ends); yields the mark's path."""
    os.makedirs(lanes_dir, exist_ok=True)
    mark = osp.join(lanes_dir, f'{name}.lane')
    with open(mark, 'w') as f:
        f.write(str(os.getpid()))
    try:
        yield mark
    finally:
        if osp.exists(mark):
            os.remove(mark)
