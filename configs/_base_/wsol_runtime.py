# Runtime of the WSOL configs: the task-neutral base plus the WSOL map
# overlays (WSOLVisualizer, and WSOLVisualizationHook, off by default;
# `tools/test.py --show-dir DIR` switches it on).
_base_ = ['./default_runtime.py']

default_hooks = dict(
    visualization=dict(type='WSOLVisualizationHook', enable=False))
visualizer = dict(type='WSOLVisualizer', _delete_=True,
                  vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
