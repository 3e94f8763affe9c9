# Point-DETR3D teacher, LiDAR-only, on the CenterPoint pillar-0.2 LiDAR
# branch (spec section 4). The LiDAR modules have the names and shapes of
# mmdet3d's centerpoint_pillar02_second_secfpn_nus.py, so the weights of a
# CenterPoint trained on the labelled samples load into them
# (tools/point_detr3d/fuse_checkpoints.py, step 2 of the method). The
# point-cloud range is the nuScenes one of the dataset base.
voxel_size = [0.2, 0.2, 8]
model = dict(
    type='mmweak.PointDETR3D',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        voxel=True,
        voxel_layer=dict(
            max_num_points=20,
            voxel_size=voxel_size,
            point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
            max_voxels=(30000, 40000))),
    pts_voxel_encoder=dict(
        type='PillarFeatureNet',
        in_channels=5,
        feat_channels=[64],
        with_distance=False,
        voxel_size=(0.2, 0.2, 8),
        point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
        norm_cfg=dict(type='BN1d', eps=1e-3, momentum=0.01),
        legacy=False),
    pts_middle_encoder=dict(
        type='PointPillarsScatter', in_channels=64, output_shape=(512, 512)),
    pts_backbone=dict(
        type='SECOND',
        in_channels=64,
        out_channels=[64, 128, 256],
        layer_nums=[3, 5, 5],
        layer_strides=[2, 2, 2],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        conv_cfg=dict(type='Conv2d', bias=False)),
    pts_neck=dict(
        type='SECONDFPN',
        in_channels=[64, 128, 256],
        out_channels=[128, 128, 128],
        upsample_strides=[0.5, 1, 2],
        norm_cfg=dict(type='BN', eps=1e-3, momentum=0.01),
        upsample_cfg=dict(type='deconv', bias=False),
        use_conv_for_no_stride=True),
    pts_bbox_head=dict(
        type='mmweak.PointDETR3DHead',
        num_classes=10,
        in_channels=384,
        embed_dims=256,
        num_layers=1,
        point_cloud_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
        # per-class mean (l, w, h) in metres, in the order of the dataset's
        # classes: the method configs set it
        class_mean_size=None,
        query_encoder=dict(type='mmweak.PointQueryEncoder3D', num_query=300,
                           compat_h_bug=False),
        cross_attn=dict(
            type='mmweak.DRoICrossAttention',
            num_heads=8,
            num_levels=1,
            num_points=16,
            roi_size=7,
            with_camera=False),
        ffn_channels=512,
        # Hungarian matching with focal-class 2.0 + box-L1 0.25 costs; the
        # losses: focal (alpha 0.25, gamma 2, weight 2.0) and L1 (0.25)
        assign='hungarian',
        cls_cost_weight=2.0,
        reg_cost_weight=0.25))
