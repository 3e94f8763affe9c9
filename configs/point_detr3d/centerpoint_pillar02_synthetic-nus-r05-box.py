# centerpoint_pillar02_nus-r05-box.py on the embedded nuScenes-layout set
# (the 5%-boxes-only student and the teacher's LiDAR pre-training of the
# main job, pipeline_synthetic-nus-r05.py). Same readers, converter, split
# and metric as nuScenes; the root, the missing sweeps, the CPU size and
# the schedule (an iteration count shared by the three students) differ:
# configs/_base_/datasets/synthetic-nus-3d_cpu.py.
_base_ = [
    './centerpoint_pillar02_nus-r05-box.py',
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
    data_preprocessor=dict(voxel_layer=_base_.syn_voxel_layer),
    **_base_.syn_lidar_branch,
    **_base_.syn_centerpoint)

train_pipeline = load_points + [
    dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample' else t
    for t in _base_.train_pipeline[2:]
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset=dict(data_root=data_root, pipeline=train_pipeline)))
train_cfg = _base_.syn_student_loop
param_scheduler = _base_.syn_student_schedule
