# Point-DETR3D teacher-student method on nuScenes trainval, 5% labelled
# samples, LiDAR-only CenterPoint voxel 0.1 (10-frame input; GPUs only: the
# SparseEncoder has no CPU kernels):
#   python tools/point_detr3d/run_pipeline.py \
#       configs/point_detr3d/pipeline_voxel01_nus-r05.py \
#       [--work-dir work_dirs/p3d_nus_voxel01_r05] [--from STAGE] [--to STAGE]
# Data and stages as pipeline_pillar02_nus-r05.py.
_base_ = ['./pipeline_pillar02_nus-r05.py']

title = 'Point-DETR3D on nuScenes, 5% labelled (voxel 0.1, LiDAR only)'
lidar_pretrain = dict(
    config='configs/point_detr3d/centerpoint_voxel01_nus-r05-box.py')
teacher = dict(config='configs/point_detr3d/point-detr3d_voxel01_nus-r05.py')
student = dict(
    config='configs/point_detr3d/'
    'centerpoint-twoview_voxel01_nus-r05-pseudo.py')
full = dict(config='configs/point_detr3d/centerpoint_voxel01_nus-full.py')
