# Point-DETR3D teacher (LiDAR-only, pillar 0.2) on the 5% labelled nuScenes
# samples, with points simulated from their GT boxes (spec sections 2-4):
# one query per annotated point, D-RoI attention over the BEV map, one
# decoder layer, Hungarian matching, focal 2.0 + L1 0.25, 20 epochs of
# AdamW. ``load_from`` is the fused initialisation (step 2:
# tools/point_detr3d/fuse_checkpoints.py on the LiDAR pre-training,
# centerpoint_pillar02_nus-r05-box.py); the teacher-student runner sets it.
_base_ = [
    '../_base_/models/point-detr3d_pillar02_nus.py',
    '../_base_/schedules/point-detr3d_teacher_adamw_20e.py',
    '../_base_/datasets/nus-3d_point-split.py',
    '../_base_/det3d_runtime.py',
]

# the query encoder's and the D-RoI prior's class-mean sizes: the dataset
# base's table (see there)
class_mean_size = _base_.class_mean_size
model = dict(pts_bbox_head=dict(class_mean_size=class_mean_size))

point_cloud_range = _base_.point_cloud_range
# labelled samples: GT paste and augmentation first, then one simulated
# point per final box (random noise in training)
train_pipeline = _base_.load_points + [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='ObjectSample', db_sampler=_base_.db_sampler),
    dict(type='GlobalRotScaleTrans', rot_range=[-0.3925, 0.3925],
         scale_ratio_range=[0.95, 1.05], translation_std=[0, 0, 0]),
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5,
         flip_ratio_bev_vertical=0.5),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=_base_.class_names),
    dict(type='PointShuffle'),
    dict(type='mmweak.SimulatePointAnnotations'),
    dict(type='mmweak.PackPointDet3DInputs',
         keys=['points', 'gt_bboxes_3d', 'gt_labels_3d'])
]
# val: the points of the val GT boxes, simulated deterministically (seeded
# by the sample token), so the teacher's boxes are scored by NuScenesMetric
teacher_test_pipeline = _base_.load_points + [
    dict(type='mmweak.LoadPointAnnotations3D', simulate_missing=True),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='mmweak.PackPointDet3DInputs', keys=['points', 'gt_labels_3d'])
]
# pseudo labelling: the stored points of the point-only samples' valid
# instances (use_valid_flag, as the student's dataset reads them; the merge
# checks one teacher box per such point)
pseudo_label_pipeline = _base_.load_points + [
    dict(type='mmweak.LoadPointAnnotations3D', simulate_missing=False),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='mmweak.PackPointDet3DInputs', keys=['points', 'gt_labels_3d'])
]

# 8 GPUs x 1 sample
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
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
        backend_args=_base_.backend_args))
val_dataloader = dict(dataset=dict(pipeline=teacher_test_pipeline))
test_dataloader = val_dataloader
# read by tools/point_detr3d/make_pseudo_labels.py
pseudo_label_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=_base_.dataset_type,
        data_root=_base_.data_root,
        ann_file=_base_.ann_file_point,
        pipeline=pseudo_label_pipeline,
        metainfo=_base_.metainfo,
        modality=_base_.input_modality,
        data_prefix=_base_.data_prefix,
        test_mode=True,
        use_valid_flag=True,
        box_type_3d='LiDAR',
        backend_args=_base_.backend_args))
