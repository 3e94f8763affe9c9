# The fully supervised counterpart of the Point-DETR3D student: CenterPoint
# (pillar 0.2, no velocity, CBGS) on every nuScenes train sample with its
# GT boxes. The method's claim is measured against it.
_base_ = ['./centerpoint_pillar02_nus-r05-box.py']

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
