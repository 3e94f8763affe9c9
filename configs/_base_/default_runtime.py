# Task-neutral runtime shared by every mmweak config (WSOL, WSSS, grounding,
# 3D). Task runtimes (e.g. ``wsol_runtime.py``) add their visualizer and
# visualization hook on top; host-library configs may instead name the host
# hook by prefix (``mmseg.SegVisualizationHook``).
# mmweak components resolve by bare name; host ones need their prefix.
default_scope = 'mmweak'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # numpy / random / torch generator states in every checkpoint, restored
    # on --resume, so a resumed run continues the uninterrupted one
    rng_state=dict(type='RNGStateHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # on machines without a GPU, tools/train.py switches to gloo
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
