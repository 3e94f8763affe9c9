# centerpoint_voxel01_nus-r05-box.py (GPU only) on the 10% split of
# make_point_split.py (--ratio 0.1): CenterPoint voxel 0.1 on the 10%
# labelled samples only, GT paste from them. The LiDAR pre-training of
# point-detr3d_voxel01_nus-r10.py and the "10% boxes only" student.
_base_ = ['./centerpoint_voxel01_nus-r05-box.py']

label_ratio = 'r10'
ann_file_labelled = f'nuscenes_infos_train_{label_ratio}_labelled.pkl'
dbinfos_labelled = f'nuscenes_dbinfos_train_{label_ratio}_labelled.pkl'
db_sampler = dict(
    _base_.db_sampler, info_path=_base_.data_root + dbinfos_labelled)
train_pipeline = [
    dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(ann_file=ann_file_labelled, pipeline=train_pipeline)))
