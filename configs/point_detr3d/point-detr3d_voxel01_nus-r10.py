# point-detr3d_voxel01_nus-r05.py (the LiDAR-only teacher on the voxel-0.1
# branch, GPU only) on the 10% split (--ratio 0.1): the labelled
# samples, their GT-paste database and the point-only samples of that
# ratio. load_from: the fused initialisation of
# centerpoint_voxel01_nus-r10-box.py (pipeline_voxel01_nus-r10.py sets it).
_base_ = ['./point-detr3d_voxel01_nus-r05.py']

label_ratio = 'r10'
ann_file_labelled = f'nuscenes_infos_train_{label_ratio}_labelled.pkl'
ann_file_point = f'nuscenes_infos_train_{label_ratio}_point.pkl'
dbinfos_labelled = f'nuscenes_dbinfos_train_{label_ratio}_labelled.pkl'
db_sampler = dict(
    _base_.db_sampler, info_path=_base_.data_root + dbinfos_labelled)
train_pipeline = [
    dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(ann_file=ann_file_labelled, pipeline=train_pipeline))
pseudo_label_dataloader = dict(dataset=dict(ann_file=ann_file_point))
