# Runtime of the segmentation configs hosted in mmseg (WSSS Stage C): the
# task-neutral default_runtime.py plus iteration-based logging and
# checkpoints (every 2,000 iterations, as mmseg's schedules), mmseg's
# visualization hook and visualizer (off until `tools/test.py --show-dir`),
# and mmseg's SegTTAModel for multi-scale + flip testing with the dataset
# base's `tta_pipeline` (averaged softmax).
_base_ = ['./default_runtime.py']

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=2000,
        max_keep_ckpts=3),
    visualization=dict(type='mmseg.SegVisualizationHook', draw=False))
visualizer = dict(
    type='mmseg.SegLocalVisualizer',
    _delete_=True,
    vis_backends=[dict(type='LocalVisBackend')],
    name='visualizer')
log_processor = dict(by_epoch=False)

tta_model = dict(type='mmseg.SegTTAModel')
