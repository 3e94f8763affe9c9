# Point-DETR3D teacher-student method on nuScenes trainval, 2% labelled
# samples, LiDAR-only CenterPoint voxel 0.1 (GPUs only: the SparseEncoder
# has no CPU kernels; pipeline_voxel01_nus-r05.py at --ratio 0.02):
#   python tools/point_detr3d/run_pipeline.py \
#       configs/point_detr3d/pipeline_voxel01_nus-r02.py \
#       [--work-dir work_dirs/p3d_nus_voxel01_r02] [--from STAGE] [--to STAGE]
_base_ = ['./pipeline_voxel01_nus-r05.py']

title = 'Point-DETR3D on nuScenes, 2% labelled (voxel 0.1, LiDAR only)'
split = dict(ratio=0.02)
lidar_pretrain = dict(
    config='configs/point_detr3d/centerpoint_voxel01_nus-r02-box.py')
teacher = dict(config='configs/point_detr3d/point-detr3d_voxel01_nus-r02.py')
student = dict(
    config='configs/point_detr3d/'
    'centerpoint-twoview_voxel01_nus-r02-pseudo.py')
