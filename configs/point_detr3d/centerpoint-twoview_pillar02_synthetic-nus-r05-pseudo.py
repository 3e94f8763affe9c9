# centerpoint-twoview_pillar02_nus-r05-pseudo.py (the student) on the
# embedded nuScenes-layout set, at the CPU size and schedule of
# centerpoint_pillar02_synthetic-nus-r05-box.py
# (configs/_base_/datasets/synthetic-nus-3d_cpu.py).
_base_ = [
    './centerpoint-twoview_pillar02_nus-r05-pseudo.py',
    '../_base_/datasets/synthetic-nus-3d_cpu.py'
]

data_root = _base_.syn_data_root
load_points = _base_.load_points[:1]  # keyframes only, no sweeps
db_sampler = dict(
    _base_.db_sampler,
    data_root=data_root,
    info_path=data_root + _base_.dbinfos_labelled)
test_pipeline = load_points + _base_.test_pipeline[2:]
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
model = dict(
    data_preprocessor=dict(
        data_preprocessor=dict(voxel_layer=_base_.syn_voxel_layer)),
    loss_consistency=dict(
        voxel_size=_base_.syn_voxel_size,
        out_size_factor=_base_.syn_out_size_factor,
        class_mean_sizes=_base_.syn_class_mean_size),
    **_base_.syn_lidar_branch,
    **_base_.syn_centerpoint)

# the two-view pipeline with the embedded set's loader and GT database
branch = _base_.train_pipeline[-1]
train_pipeline = load_points + _base_.train_pipeline[2:-1] + [
    dict(branch,
         strong=[
             dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample'
             else t for t in branch['strong']
         ])
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset=dict(data_root=data_root, pipeline=train_pipeline)))
train_cfg = _base_.syn_student_loop
param_scheduler = _base_.syn_student_schedule
