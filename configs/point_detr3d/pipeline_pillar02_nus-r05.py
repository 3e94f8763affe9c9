# Point-DETR3D teacher-student method (AAAI 2024, arXiv 2403.15317) on
# nuScenes trainval, 5% labelled samples, LiDAR-only CenterPoint pillar 0.2:
#   python tools/point_detr3d/run_pipeline.py \
#       configs/point_detr3d/pipeline_pillar02_nus-r05.py \
#       [--work-dir work_dirs/p3d_nus_r05] [--from STAGE] [--to STAGE]
# Needs data/nuscenes with the v2 infos and GT database of mmdet3d
# (tools/dataset_converters/create_nuscenes_infos.py data/nuscenes
# --version v1.0-trainval --max-sweeps 10). Stages: split ->
# lidar_pretrain -> fuse -> teacher -> pseudo_label -> student -> full ->
# evaluate (WORK_DIR/results.md).
title = 'Point-DETR3D on nuScenes, 5% labelled (pillar 0.2, LiDAR only)'
data_root = 'data/nuscenes'
version = 'v1.0-trainval'
# no `generate`: the data set is read as it is
split = dict(ratio=0.05, seed=0, split_by='sample', args=[])
lidar_pretrain = dict(
    config='configs/point_detr3d/centerpoint_pillar02_nus-r05-box.py',
    options={})
# image_checkpoint: an FCOS3D ResNet-50 checkpoint for a camera teacher
# (the LiDAR-only teacher config has no image branch to receive it)
fuse = dict(image_checkpoint=None, args=[])
teacher = dict(
    config='configs/point_detr3d/point-detr3d_pillar02_nus-r05.py',
    options={})
# CPU processes or GPUs of the pseudo labelling (torchrun when > 1)
pseudo_label = dict(workers=8, args=[], options={})
student = dict(
    config='configs/point_detr3d/'
    'centerpoint-twoview_pillar02_nus-r05-pseudo.py',
    options={})
full = dict(
    config='configs/point_detr3d/centerpoint_pillar02_nus-full.py',
    options={})
test_options = {}
