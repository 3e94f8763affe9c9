# Copyright (c) mmweak contributors.
"""Building blocks of mmweak's long offline jobs (CAM export, pseudo masks,
label conversion): one shard per process under torchrun, finished outputs
skipped on a rerun, atomic writes and a progress bar on rank 0.

A typical job::

    rank, world = init_offline_dist(args.launcher)
    todo = pending(ids, lambda i: osp.join(out_dir, i + '.npy'))
    for img_id in track(shard(todo, rank, world), 'CAMs'):
        with atomic_path(osp.join(out_dir, img_id + '.npy')) as tmp:
            np.save(tmp, result)   # numpy keeps the name: tmp ends in .npy
    barrier()
"""
import contextlib
import hashlib
import os
import os.path as osp
import sys
import tempfile
import time
from typing import (Callable, Iterable, Iterator, List, Optional, Sequence,
                    TextIO, Tuple, TypeVar)

import numpy as np
import torch
import torch.distributed as dist

T = TypeVar('T')


def add_launcher_args(parser) -> None:
    """Add the offline tools' ``--launcher none|pytorch`` and
    ``--local_rank`` (set by old launchers) to an ``argparse`` parser."""
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch'],
        default='none',
        help='none: one process; pytorch: sharded under torchrun')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def init_offline_dist(launcher: str = 'none') -> Tuple[int, int]:
    """Initialise the process group for an offline job started by torchrun.

    ``launcher='none'`` runs in one process. ``'pytorch'`` reads torchrun's
    environment and uses nccl when a GPU is available, gloo otherwise (so the
    same command shards the work over CPU processes).

    Returns:
        tuple[int, int]: ``(rank, world_size)``.
    """
    if launcher == 'none':
        return 0, 1
    if launcher != 'pytorch':
        raise ValueError(f'launcher={launcher!r}: offline jobs support '
                         "'none' and 'pytorch' (torchrun)")
    if not dist.is_initialized():
        for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if key not in os.environ:
                raise RuntimeError(
                    f'environment variable {key} is not set: start the job '
                    'with torchrun --nproc_per_node=N ... --launcher pytorch')
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
            dist.init_process_group(backend='nccl')
        else:
            dist.init_process_group(backend='gloo')
    return dist.get_rank(), dist.get_world_size()


def offline_device() -> torch.device:
    """The device of this process: its local GPU if any, else the CPU."""
    if torch.cuda.is_available():
        return torch.device('cuda', int(os.environ.get('LOCAL_RANK', 0)))
    return torch.device('cpu')


def shard(items: Sequence[T], rank: int, world_size: int) -> List[T]:
    """The items this rank processes (round-robin, disjoint, covering)."""
    return list(items[rank::world_size])


def pending(items: Iterable[T], out_path: Callable[[T], str]) -> List[T]:
    """Items whose output file does not exist yet (resume after a stop).

    Outputs are only ever created by an atomic rename, so an existing file is
    a finished one.
    """
    return [item for item in items if not osp.exists(out_path(item))]


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or \
        dist.get_rank() == 0


def track(items: Sequence[T], desc: str = '',
          stream: Optional[TextIO] = None) -> Iterator[T]:
    """Iterate ``items`` with a progress display (on rank 0 only).

    On a terminal the display is mmengine's
    :class:`~mmengine.utils.ProgressBar`. When the output is a pipe or a
    file (a log, CI, a pipeline that captures its tools), a bar redrawn
    with carriage returns would become one huge line, so a plain line is
    printed at every tenth of the work instead, with the elapsed time and
    an estimate of the time left. Other ranks iterate silently.
    """
    items = list(items)
    if not is_main_process() or not items:
        yield from items
        return
    stream = stream or sys.stdout
    if desc:
        print(f'{desc}: {len(items)} item(s)', file=stream, flush=True)
    if stream.isatty():
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(items), file=stream)
        for item in items:
            yield item
            bar.update()
        print(file=stream, flush=True)
        return
    total, start = len(items), time.time()
    marks = {max(1, round(total * k / 10)) for k in range(1, 11)}
    for done, item in enumerate(items, 1):
        yield item
        if done in marks:
            elapsed = time.time() - start
            left = elapsed / done * (total - done)
            print(f'  {done}/{total} ({100 * done // total}%), '
                  f'{elapsed:.0f} s elapsed, about {left:.0f} s left',
                  file=stream, flush=True)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the
    block succeeds, delete it when it fails.

    The temporary name keeps ``path``'s extension, so writers that infer the
    format from the name (``cv2.imwrite``, ``np.save``, PIL) work unchanged.
    """
    out_dir = osp.dirname(osp.abspath(path))
    os.makedirs(out_dir, exist_ok=True)
    base = osp.basename(path)
    ext = osp.splitext(base)[1]
    fd, tmp = tempfile.mkstemp(prefix=f'.{base}.', suffix=f'.tmp{ext}',
                               dir=out_dir)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def save_npy_atomic(path: str, obj) -> None:
    """``np.save(path, obj)`` (dicts pickled, as IRN does), atomically."""
    with atomic_path(path) as tmp:
        np.save(tmp, obj, allow_pickle=True)


def save_png_atomic(path: str, label: np.ndarray,
                    palette: Sequence[int] = None) -> None:
    """Write a uint8 label map as a PNG (optionally palette-mode), atomically.

    Args:
        path: Output ``.png`` path.
        label: ``(H, W)`` uint8 array (class ids, 254, 255).
        palette: Optional flat ``[r, g, b, ...]`` palette (VOC's for VOC).
    """
    from PIL import Image
    label = np.asarray(label)
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f'{path}: expected a (H, W) uint8 label map, got '
                         f'{label.shape} {label.dtype}')
    img = Image.fromarray(label, mode='P' if palette is not None else 'L')
    if palette is not None:
        img.putpalette(list(palette))
    with atomic_path(path) as tmp:
        img.save(tmp, format='PNG')


def remove_stale_tmp(out_dir: str, ext: str) -> int:
    """Delete the temporary files (``.<name>.<random>.tmp<ext>``, see
    :func:`atomic_path`) an interrupted run left in ``out_dir``; return how
    many there were."""
    import glob
    stale = glob.glob(osp.join(out_dir, f'.*{ext}.*.tmp{ext}'))
    for path in stale:
        os.remove(path)
    return len(stale)
