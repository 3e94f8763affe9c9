# Point-DETR3D teacher-student method on nuScenes trainval, 5% labelled
# samples, with the camera teacher (point-detr3d_pillar02-cam_nus-r05.py:
# LiDAR pillar 0.2 + 6 cameras); the students stay LiDAR-only CenterPoint
# pillar 0.2, as in pipeline_pillar02_nus-r05.py:
#   python tools/point_detr3d/run_pipeline.py \
#       configs/point_detr3d/pipeline_pillar02-cam_nus-r05.py \
#       [--work-dir work_dirs/p3d_nus_cam_r05] [--from STAGE] [--to STAGE] \
#       [--cfg-options fuse.image_checkpoint=/path/to/fcos3d_r50.pth]
# Needs the nuScenes camera images (samples/CAM_*) next to the LiDAR data.
_base_ = ['./pipeline_pillar02_nus-r05.py']

title = ('Point-DETR3D on nuScenes, 5% labelled (pillar 0.2 + 6 cameras '
         'teacher)')
# REQUIRED: YOUR FCOS3D ResNet-50 (caffe, DCNv2, FPN) nuScenes checkpoint
# (mmdet3d / mmdet names: backbone.*, neck.*), which fuse_checkpoints.py
# maps onto the teacher's img_backbone / img_neck. mmweak downloads no
# weights: put the file at this path or set fuse.image_checkpoint; the fuse
# stage stops with "... can not be found" while it is missing (the LiDAR
# pre-training before it is kept: rerun with --from fuse).
fuse = dict(image_checkpoint='checkpoints/fcos3d_r50-caffe-dcn_fpn_nus.pth')
teacher = dict(
    config='configs/point_detr3d/point-detr3d_pillar02-cam_nus-r05.py')
