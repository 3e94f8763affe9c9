# centerpoint-twoview_voxel01_nus-r05-pseudo.py (the Point-DETR3D student on
# the voxel-0.1 branch, GPU only) on the 10% split: the merged pkl of the
# r10 voxel teacher (GT boxes on the 10% labelled samples, teacher boxes
# on the point-only ones), GT paste from the 10% labelled samples in the
# strong view. The merged pkl:
#   python tools/point_detr3d/make_pseudo_labels.py \
#       configs/point_detr3d/point-detr3d_voxel01_nus-r10.py TEACHER.pth \
#       --out-dir data/nuscenes/pseudo_voxel01_r10
# (or tools/point_detr3d/run_pipeline.py pipeline_voxel01_nus-r10.py).
_base_ = ['./centerpoint-twoview_voxel01_nus-r05-pseudo.py']

label_ratio = 'r10'
ann_file_pseudo = (
    f'pseudo_voxel01_{label_ratio}/nuscenes_infos_train_pseudo.pkl')
dbinfos_labelled = f'nuscenes_dbinfos_train_{label_ratio}_labelled.pkl'
db_sampler = dict(
    _base_.db_sampler, info_path=_base_.data_root + dbinfos_labelled)
branch = _base_.train_pipeline[-1]
train_pipeline = _base_.train_pipeline[:-1] + [
    dict(branch,
         strong=[
             dict(t, db_sampler=db_sampler) if t['type'] == 'ObjectSample'
             else t for t in branch['strong']
         ])
]
train_dataloader = dict(
    dataset=dict(
        dataset=dict(ann_file=ann_file_pseudo, pipeline=train_pipeline)))
