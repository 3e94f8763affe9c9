# Copyright (c) mmweak contributors.
"""Distributed set-up that also works on machines without a GPU."""
import os
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config


def init_cpu_distributed(cfg: Config,
                         launcher: str,
                         backend: Optional[str] = None) -> bool:
    """Initialise ``torch.distributed`` with gloo when no GPU is available.

    mmengine 0.10's pytorch launcher calls ``torch.cuda.set_device`` and wraps
    the model with ``device_ids=[LOCAL_RANK]``, both of which fail on a
    CPU-only machine. When ``launcher`` is not ``'none'`` and CUDA is not
    available, this initialises the process group with the gloo backend
    before the Runner is built (the Runner then skips its own
    initialisation) and sets ``model_wrapper_cfg.device_ids=None``. On GPU
    machines it does nothing, so the stock nccl path is used.

    Args:
        cfg (Config): The config; ``model_wrapper_cfg`` is updated in place.
        launcher (str): The launcher given to the tool.
        backend (str, optional): Backend to use on CPU. Defaults to gloo.

    Returns:
        bool: True if the process group was initialised here.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise ValueError(
            f'launcher={launcher!r} is not supported without a GPU; use '
            '`--launcher pytorch` with torchrun (tools/dist_train.sh).')
    if not dist.is_initialized():
        for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if key not in os.environ:
                raise RuntimeError(
                    f'Environment variable {key} is not set: start the '
                    'distributed job with torchrun (tools/dist_train.sh).')
        dist.init_process_group(backend=backend or 'gloo')
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
    return True
