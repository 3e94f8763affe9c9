# CenterPoint (pillar 0.2, no velocity) on the 5% labelled nuScenes samples
# only. Two roles in Point-DETR3D (spec sections 3 and 6): step 1, the LiDAR
# pre-training whose weights initialise the teacher's LiDAR branch
# (tools/point_detr3d/fuse_checkpoints.py), and the "5% boxes only" student
# the method is compared with (mmdet3d's milder CenterPoint augmentation).
# The model is mmdet3d's CenterPoint through mmweak's TwoViewCenterPoint
# with the consistency loss off (the spec's baseline student): the same
# network, plus the initialisation of the head's task heads that mmdet3d
# 1.4 skips (open-mmlab/mmdetection3d#1554; heatmap bias -2.19).
_base_ = [
    'mmdet3d::_base_/models/centerpoint_pillar02_second_secfpn_nus.py',
    'mmdet3d::_base_/schedules/cyclic-20e.py',
    '../_base_/datasets/nus-3d_point-split.py',
    '../_base_/det3d_runtime.py',
]

point_cloud_range = _base_.point_cloud_range
model = dict(
    type='mmweak.TwoViewCenterPoint',
    consistency=False,
    data_preprocessor=dict(
        voxel_layer=dict(point_cloud_range=point_cloud_range)),
    pts_voxel_encoder=dict(point_cloud_range=point_cloud_range),
    pts_bbox_head=dict(
        bbox_coder=dict(pc_range=point_cloud_range[:2])),
    # the method drops velocity: its code weights are 0
    train_cfg=dict(
        pts=dict(
            point_cloud_range=point_cloud_range,
            code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
                          0.0])),
    test_cfg=dict(pts=dict(pc_range=point_cloud_range[:2])))

train_pipeline = _base_.load_points + [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=_base_.db_sampler),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.3925, 0.3925],
         scale_ratio_range=[0.95, 1.05], translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
    dict(type='PointsRangeFilter',
         point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter',
         point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=_base_.class_names),
    dict(type='PointShuffle'),
    dict(type='Pack3DDetInputs',
         keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # CBGS class-balanced sampling (spec section 6)
    dataset=dict(
        type='CBGSDataset',
        dataset=dict(
            type=_base_.dataset_type,
            data_root=_base_.data_root,
            ann_file=_base_.ann_file_labelled,
            pipeline=train_pipeline,
            metainfo=_base_.metainfo,
            modality=_base_.input_modality,
            test_mode=False,
            data_prefix=_base_.data_prefix,
            use_valid_flag=True,
            box_type_3d='LiDAR',
            backend_args=_base_.backend_args)))
