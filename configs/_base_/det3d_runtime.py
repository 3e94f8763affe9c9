# Runtime of the 3D configs hosted in mmdet3d (Point-DETR3D). Unlike the
# other task runtimes, the default scope is mmdet3d's, so these configs read
# like the mmdet3d configs a user already has: host components by bare name,
# mmweak's by the ``mmweak.`` prefix, registered through ``custom_imports``
# (mmweak's 3D modules import mmdet3d; ``import mmweak`` does not).
default_scope = 'mmdet3d'
custom_imports = dict(
    imports=[
        'mmweak.engine.hooks',
        'mmweak.models.detectors_3d',
        'mmweak.datasets.transforms.point_annotations_3d',
        'mmweak.evaluation.metrics.dump_pseudo_labels_3d',
    ],
    allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # numpy / random / torch generator states in every checkpoint, restored
    # on --resume, so a resumed run continues the uninterrupted one
    rng_state=dict(type='mmweak.RNGStateHook'),
    visualization=dict(type='Det3DVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # on machines without a GPU, tools/train.py switches to gloo
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
