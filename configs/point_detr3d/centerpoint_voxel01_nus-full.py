# The fully supervised counterpart of the voxel-0.1 Point-DETR3D student
# (GPU only): CenterPoint voxel 0.1 (no velocity, CBGS) on every nuScenes
# train sample with its GT boxes, GT paste from all of them.
_base_ = ['./centerpoint_voxel01_nus-r05-box.py']

db_sampler = dict(
    _base_.db_sampler,
    info_path=_base_.data_root + 'nuscenes_dbinfos_train.pkl')
train_pipeline = [
    dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            ann_file='nuscenes_infos_train.pkl', pipeline=train_pipeline)))
