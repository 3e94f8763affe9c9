# Copyright (c) mmweak contributors.
"""Carry the random generators of a training run through its checkpoints.

mmengine restores the weights, optimizer, schedulers, message hub, epoch and
iteration on ``--resume``, and its samplers shuffle from ``seed + epoch``,
but the global generators that random transforms (numpy, ``random``) and the
model (dropout, drop path: torch) draw from restart from the seed, so a
resumed deterministic run drifts from the uninterrupted one.
:class:`RNGStateHook` closes the gap.
"""
import random
from functools import partial
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from mmweak.registry import HOOKS

CHECKPOINT_KEY = 'rng_state'


def get_rng_state() -> Dict[str, Any]:
    """The global generator states as tensors, lists and plain numbers.

    Only types that ``torch.load(weights_only=True)`` accepts without an
    allowlist are used, so a checkpoint holding them loads through
    :func:`mmweak.utils.load_checkpoint_safely` unchanged.

    Returns:
        dict: ``python`` (:func:`random.getstate`), ``numpy``
        (:func:`numpy.random.get_state`), ``torch`` (CPU generator) and,
        once CUDA is in use, ``cuda`` (one state per device).
    """
    py_version, py_words, py_gauss = random.getstate()
    np_name, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state(
        legacy=True)
    state = dict(
        python=dict(
            version=int(py_version),
            state=torch.tensor(py_words, dtype=torch.int64),
            gauss_next=None if py_gauss is None else float(py_gauss)),
        numpy=dict(
            bit_generator=str(np_name),
            key=torch.from_numpy(np_key.astype(np.int64)),
            pos=int(np_pos),
            has_gauss=int(np_has_gauss),
            cached_gaussian=float(np_gauss)),
        torch=torch.get_rng_state())
    # an uninitialised CUDA has drawn nothing (and is not started here)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore the generators saved by :func:`get_rng_state`.

    Tensors may come back on any device (``--resume`` maps a checkpoint to
    the run's device); they are read through ``.cpu()``. CUDA states are
    restored only when as many devices are visible as were saved.
    """
    py = state['python']
    random.setstate((py['version'], tuple(py['state'].cpu().tolist()),
                     py['gauss_next']))
    npy = state['numpy']
    np.random.set_state(
        (npy['bit_generator'], npy['key'].cpu().numpy().astype(np.uint32),
         npy['pos'], npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            print_log(
                f'RNGStateHook: the checkpoint holds {len(cuda)} CUDA '
                f'generator states but {torch.cuda.device_count()} devices '
                'are visible; CUDA generators are not restored.',
                logger='current',
                level='WARNING')


def seed_worker_for_epoch(worker_id: int, init_fn: Optional[Callable],
                          seed: int, epoch: int, rank: int) -> None:
    """``worker_init_fn`` that seeds numpy, ``random`` and torch of a data
    loader worker from ``(seed, epoch, rank, worker_id)``.

    ``init_fn`` (the loader's own ``worker_init_fn``, e.g. mmengine's
    ``seed + rank * num_workers + worker_id`` seeding) runs first; its
    seeds are then replaced, so each epoch has its own streams and a
    resumed epoch draws what the uninterrupted one drew.
    """
    if init_fn is not None:
        init_fn(worker_id)
    seq = np.random.SeedSequence(
        [int(seed) % (1 << 64), int(epoch), int(rank), int(worker_id)])
    np_seed, py_seed, torch_seed = seq.generate_state(3, dtype=np.uint64)
    np.random.seed(int(np_seed) & 0xFFFFFFFF)
    random.seed(int(py_seed))
    torch.manual_seed(int(torch_seed) & ((1 << 63) - 1))


class _RNGNeutralIterator:
    """Iterator whose first ``count`` items are drawn without changing the
    global generators (the batches a resumed iteration-based loop skips
    before it trains again)."""

    def __init__(self, iterator: Iterator, count: int) -> None:
        self._iterator = iterator
        self._count = count

    def __iter__(self) -> '_RNGNeutralIterator':
        return self

    def __next__(self) -> Any:
        if self._count <= 0:
            return next(self._iterator)
        self._count -= 1
        state = get_rng_state()
        try:
            return next(self._iterator)
        finally:
            set_rng_state(state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._iterator, name)


def _seeded_samplers(loader) -> List[Any]:
    """Samplers of a data loader that keep an integer ``seed``."""
    found: List[Any] = []
    for sampler in (getattr(loader, 'sampler', None),
                    getattr(getattr(loader, 'batch_sampler', None), 'sampler',
                            None)):
        if isinstance(getattr(sampler, 'seed', None), int) and all(
                sampler is not s for s in found):
            found.append(sampler)
    return found


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the random state of training in the checkpoints and restore it
    on resume, so that a resumed run continues the uninterrupted one.

    - **Checkpoint**: ``checkpoint['rng_state']`` holds the numpy, Python
      ``random`` and torch CPU (and CUDA, once in use) generator states at
      the time of saving, and the seed of the train sampler (mmengine
      draws one at random when ``randomness.seed`` is None and does not
      restore it). All are stored as tensors, lists and numbers, so the
      checkpoint still loads with ``torch.load(weights_only=True)`` through
      mmweak's safe loader without new allowlisted types.
    - **Resume**: when the loaded checkpoint resumes training (the loop
      continues at the checkpoint's epoch and iteration; ``load_from`` for
      initialisation only is left alone), the states are restored at the
      start of the first training epoch: after mmengine's own re-seeding,
      before the first batch is loaded. Iteration-based loops then skip the
      batches already trained on without drawing from the restored
      generators.
    - **Validation** hands the generators back as it found them, so the
      next training epoch does not depend on whether validation ran (a
      resumed run does not repeat the validation of the epoch it resumes
      after), and a checkpoint written during validation (``save_best``)
      holds the training state.
    - **Data loader workers** (epoch-based loops with ``num_workers > 0``,
      when ``reseed_workers``): mmengine seeds a worker with
      ``seed + worker_id`` whenever it starts, so the persistent workers of
      an uninterrupted run continue their streams into the next epoch
      while those of a resumed run start over (and non-persistent workers
      repeat the same streams every epoch). Instead, each epoch's workers
      are seeded from ``(seed, epoch, rank, worker_id)`` after the loader's
      own ``worker_init_fn``, and persistent workers are restarted at every
      epoch, since the state they carry cannot be read from the main
      process.

    Limitations: a single process is restored exactly. In a distributed run
    only rank 0 writes the checkpoint, so only its state is stored; it is
    restored on every rank (exact when the ranks were seeded alike and drew
    alike), or on rank 0 alone with ``randomness.diff_rank_seed``.
    Generators that datasets or transforms own are not covered (mmweak's
    datasets draw all their randomness at generation time from their
    ``seed``), nor are random numbers that hooks running after the
    checkpoint save (outside validation) draw before the next epoch. With
    ``randomness.seed=None``, the restored sampler seed reaches samplers
    that read it per epoch (``DefaultSampler``), not ``InfiniteSampler``,
    which draws its order when built. mmengine does not accept
    ``default_hooks.rng_state=None``; to run without the hook, replace
    ``default_hooks`` with ``_delete_=True``.

    Args:
        reseed_workers (bool): Seed the workers of epoch-based training per
            epoch as described above. Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, reseed_workers: bool = True) -> None:
        self.reseed_workers = reseed_workers
        self._resume_state: Optional[Dict[str, Any]] = None
        self._resume_at: Optional[tuple] = None
        self._val_state: Optional[Dict[str, Any]] = None

    # checkpoints ---------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # a checkpoint written during validation gets the training state
        state = dict(self._val_state or get_rng_state())
        samplers = _seeded_samplers(self._train_loader(runner))
        state['sampler_seed'] = samplers[0].seed if samplers else None
        state['world_size'] = get_world_size()
        checkpoint[CHECKPOINT_KEY] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        meta = checkpoint.get('meta') or {}
        if state is None or 'epoch' not in meta or 'iter' not in meta:
            self._resume_state = self._resume_at = None
            return
        # kept until training starts: `Runner.resume` sets the loop's epoch
        # and iteration from `meta` (and may re-seed) after this call
        self._resume_state = state
        self._resume_at = (int(meta['epoch']), int(meta['iter']))

    # training ------------------------------------------------------------
    def before_train_epoch(self, runner) -> None:
        if self._resume_state is not None:
            state, at = self._resume_state, self._resume_at
            self._resume_state = self._resume_at = None
            if (runner.epoch, runner.iter) == at and runner.iter > 0:
                self._restore(runner, state)
        if self.reseed_workers and isinstance(runner.train_loop,
                                              EpochBasedTrainLoop):
            self._seed_workers(runner)

    def _restore(self, runner, state: Dict[str, Any]) -> None:
        restore_generators = True
        if get_world_size() > 1 or state.get('world_size', 1) > 1:
            cfg = getattr(runner, 'cfg', None) or {}
            per_rank = bool((cfg.get('randomness') or {}).get(
                'diff_rank_seed', False))
            restore_generators = not per_rank or get_rank() == 0
            print_log(
                'RNGStateHook: distributed run; the checkpoint holds the '
                'random state of rank 0, restored on ' +
                ('rank 0 only (diff_rank_seed).' if per_rank else
                 'every rank (exact if all ranks drew alike).'),
                logger='current',
                level='WARNING')
        if restore_generators:
            set_rng_state(state)
        sampler_seed = state.get('sampler_seed')
        if sampler_seed is not None:  # the same on every rank
            for sampler in _seeded_samplers(self._train_loader(runner)):
                sampler.seed = sampler_seed
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator'):
            # IterBasedTrainLoop re-reads the batches already trained on
            loop.dataloader_iterator = _RNGNeutralIterator(
                loop.dataloader_iterator, runner.iter)
        print_log(
            f'RNGStateHook: restored the random state of epoch '
            f'{runner.epoch}, iteration {runner.iter}.',
            logger='current')

    def _seed_workers(self, runner) -> None:
        loader = self._train_loader(runner)
        if loader is None or not getattr(loader, 'num_workers', 0):
            return
        init_fn = loader.worker_init_fn
        if isinstance(init_fn, partial) and \
                init_fn.func is seed_worker_for_epoch:
            init_fn = init_fn.keywords['init_fn']
        loader.worker_init_fn = partial(
            seed_worker_for_epoch,
            init_fn=init_fn,
            seed=runner.seed,
            epoch=runner.epoch,
            rank=get_rank())
        # persistent workers would carry their state over: start new ones
        iterator = getattr(loader, '_iterator', None)
        if getattr(loader, 'persistent_workers', False) and \
                iterator is not None:
            shutdown = getattr(iterator, '_shutdown_workers', None)
            if shutdown is not None:
                shutdown()
            loader._iterator = None

    @staticmethod
    def _train_loader(runner):
        """The train data loader, if the train loop is built."""
        loop = getattr(runner, '_train_loop', None)
        if loop is None or isinstance(loop, dict):
            return None
        return getattr(loop, 'dataloader', None)

    # validation ----------------------------------------------------------
    def before_val(self, runner) -> None:
        self._val_state = get_rng_state()

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            set_rng_state(self._val_state)
            self._val_state = None
