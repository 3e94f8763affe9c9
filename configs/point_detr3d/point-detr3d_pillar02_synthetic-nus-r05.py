# point-detr3d_pillar02_nus-r05.py (the teacher) on the embedded
# nuScenes-layout set, with the LiDAR branch at the CPU size of
# centerpoint_pillar02_synthetic-nus-r05-box.py (same module shapes, so that
# checkpoint initialises it: configs/_base_/datasets/synthetic-nus-3d_cpu.py)
# and the labelled split's own class-mean sizes. The paper's schedule: 20
# epochs over the labelled samples, 1 sample per step.
_base_ = [
    './point-detr3d_pillar02_nus-r05.py',
    '../_base_/datasets/synthetic-nus-3d_cpu.py'
]

data_root = _base_.syn_data_root
load_points = _base_.load_points[:1]  # keyframes only, no sweeps
db_sampler = dict(
    _base_.db_sampler,
    data_root=data_root,
    info_path=data_root + _base_.dbinfos_labelled)
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
model = dict(
    data_preprocessor=dict(voxel_layer=_base_.syn_voxel_layer),
    pts_bbox_head=dict(
        in_channels=192,
        embed_dims=128,
        ffn_channels=256,
        class_mean_size=_base_.syn_class_mean_size),
    **_base_.syn_lidar_branch)

train_pipeline = load_points + [
    dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample' else t
    for t in _base_.train_pipeline[2:]
]
teacher_test_pipeline = load_points + _base_.teacher_test_pipeline[2:]
pseudo_label_pipeline = load_points + _base_.pseudo_label_pipeline[2:]
# the teacher's 500 warm-up iterations (8 GPUs x 1 sample on nuScenes)
# would outlast the embedded set's 200 steps
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
         end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
         end=_base_.max_epochs, T_max=_base_.max_epochs, eta_min_ratio=1e-3,
         convert_to_iter_based=True),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=teacher_test_pipeline))
test_dataloader = val_dataloader
pseudo_label_dataloader = dict(
    num_workers=0,
    dataset=dict(data_root=data_root, pipeline=pseudo_label_pipeline))
