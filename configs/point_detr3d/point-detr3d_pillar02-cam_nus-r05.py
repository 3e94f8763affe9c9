# Point-DETR3D teacher with its camera branch (spec sections 4.1, 4.4, 4.6):
# point-detr3d_pillar02_nus-r05.py (LiDAR branch, head, data, schedule) plus
# the 6 nuScenes cameras through an FCOS3D-style ResNet-50 (caffe, DCNv2 in
# stages 3-4) and an FPN of 4 levels x 256 channels, sampled by the D-RoI
# attention (16 free points + a 7x7 RoI grid per camera and level). The
# schedule base already gives the image backbone lr x0.1.
#
# REQUIRED initialisation (step 2): the LiDAR pre-training fused with YOUR
# FCOS3D ResNet-50 (caffe, DCNv2) nuScenes checkpoint -- mmweak downloads no
# weights, and without an image checkpoint the image branch would start from
# random weights:
#   python tools/point_detr3d/fuse_checkpoints.py \
#       --lidar work_dirs/centerpoint_pillar02_nus-r05-box/epoch_20.pth \
#       --image checkpoints/fcos3d_r50-caffe-dcn_fpn_nus.pth \
#       --out work_dirs/point-detr3d_pillar02-cam_nus-r05/fused_init.pth
# ``load_from`` below is that output (training stops with "... can not be
# found" until it exists); the teacher-student runner
# (pipeline_pillar02-cam_nus-r05.py) makes and sets it.
#
# Deviations, both from mmdet3d 1.4's transforms: no GridMask (neither
# mmdet3d 1.4 nor mmweak has one), and no global rotation / scaling / flip
# of the point cloud (GlobalRotScaleTrans and RandomFlip3D do not update
# the cameras' lidar2cam, so the D-RoI projection would miss the objects);
# GT paste from the labelled samples stays (LiDAR points only).
_base_ = ['./point-detr3d_pillar02_nus-r05.py']

load_from = 'work_dirs/point-detr3d_pillar02-cam_nus-r05/fused_init.pth'

input_modality = dict(use_lidar=True, use_camera=True)
cameras = [
    'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
    'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'
]
# the v2 infos store the image file names: their folders per camera
data_prefix = dict(
    pts='samples/LIDAR_TOP',
    sweeps='sweeps/LIDAR_TOP',
    **{cam: f'samples/{cam}'
       for cam in cameras})
model = dict(
    # caffe-style ResNet input: BGR, mean subtracted, std 1
    data_preprocessor=dict(
        mean=[103.530, 116.280, 123.675],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    img_backbone=dict(
        type='mmdet.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='caffe',
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        stage_with_dcn=(False, False, True, True)),
    # strides 8, 16, 32 and an extra level at 64 (FCOS3D's FPN without its
    # fifth level; its weights load)
    img_neck=dict(
        type='mmdet.FPN',
        in_channels=[256, 512, 1024, 2048],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=4,
        relu_before_extra_convs=True),
    pts_bbox_head=dict(
        cross_attn=dict(
            with_camera=True,
            num_cams=len(cameras),
            num_cam_levels=4,
            num_cam_points=16)))

load_images = dict(
    type='LoadMultiViewImageFromFiles',
    to_float32=True,
    num_views=len(cameras),
    backend_args=_base_.backend_args)
geometric = ('GlobalRotScaleTrans', 'RandomFlip3D')


# the r05 teacher's pipelines with the images loaded after the points and
# packed with them ('img' -> inputs['img'], (V, 3, H, W) per sample)
train_pipeline = _base_.load_points + [load_images] + [
    dict(t, keys=['img'] + t['keys']) if 'keys' in t else t
    for t in _base_.train_pipeline[len(_base_.load_points):]
    if t['type'] not in geometric
]
teacher_test_pipeline = _base_.load_points + [load_images] + [
    dict(t, keys=['img'] + t['keys']) if 'keys' in t else t
    for t in _base_.teacher_test_pipeline[len(_base_.load_points):]
]
pseudo_label_pipeline = _base_.load_points + [load_images] + [
    dict(t, keys=['img'] + t['keys']) if 'keys' in t else t
    for t in _base_.pseudo_label_pipeline[len(_base_.load_points):]
]
camera_data = dict(modality=input_modality, data_prefix=data_prefix)
train_dataloader = dict(
    dataset=dict(pipeline=train_pipeline, **camera_data))
val_dataloader = dict(
    dataset=dict(pipeline=teacher_test_pipeline, **camera_data))
test_dataloader = val_dataloader
pseudo_label_dataloader = dict(
    dataset=dict(pipeline=pseudo_label_pipeline, **camera_data))
