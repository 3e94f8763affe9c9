# Point-DETR3D student (spec section 6): CenterPoint (pillar 0.2, no
# velocity, CBGS) on the merged pkl -- GT boxes on the 5% labelled samples,
# the teacher's boxes on the point-only ones -- with the point-guided
# two-view consistency loss (weight 0.1): the detection loss on a strongly
# augmented view, whose BEV map, un-augmented onto the weak view's grid, is
# pulled towards the weak view's map under Gaussian masks around the
# annotated points (GT centres on labelled samples).
# The merged pkl is written by the teacher-student runner
# (tools/point_detr3d/run_pipeline.py) or by hand:
#   python tools/point_detr3d/make_pseudo_labels.py \
#       configs/point_detr3d/point-detr3d_pillar02_nus-r05.py TEACHER.pth \
#       --out-dir data/nuscenes/pseudo_r05
_base_ = ['./centerpoint_pillar02_nus-r05-box.py']

ann_file_pseudo = 'pseudo_r05/nuscenes_infos_train_pseudo.pkl'
point_cloud_range = _base_.point_cloud_range
class_names = _base_.class_names
# class-mean (l, w, h) of the consistency masks' radii (dataset base)
class_mean_size = _base_.class_mean_size
model = dict(
    type='mmweak.TwoViewCenterPoint',
    consistency=True,
    loss_consistency=dict(
        point_cloud_range=point_cloud_range,
        voxel_size=[0.2, 0.2, 8],
        out_size_factor=4,
        class_mean_sizes=class_mean_size,
        min_overlap=0.1,
        min_radius=2,
        loss_weight=0.1,
        detach_weak=True),
    data_preprocessor=dict(
        _delete_=True,
        type='mmweak.MultiBranch3DDataPreprocessor',
        data_preprocessor=dict(
            type='Det3DDataPreprocessor',
            voxel=True,
            voxel_layer=dict(
                max_num_points=20,
                voxel_size=[0.2, 0.2, 8],
                max_voxels=(30000, 40000),
                point_cloud_range=point_cloud_range))))

keys = ['points', 'gt_bboxes_3d', 'gt_labels_3d']
# strong view: GT paste, flip, rotation +-0.39 rad, scale 0.85-1.15,
# translation std 0.5; weak view: no augmentation
train_pipeline = _base_.load_points + [
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True),
    dict(type='mmweak.LoadPointAnnotations3D'),
    dict(type='mmdet.MultiBranch',
         branch_field=['strong', 'weak'],
         strong=[
             dict(type='ObjectSample', db_sampler=_base_.db_sampler),
             dict(type='GlobalRotScaleTrans', rot_range=[-0.39, 0.39],
                  scale_ratio_range=[0.85, 1.15],
                  translation_std=[0.5, 0.5, 0.5]),
             dict(type='RandomFlip3D', sync_2d=False,
                  flip_ratio_bev_horizontal=0.5,
                  flip_ratio_bev_vertical=0.5),
             dict(type='PointsRangeFilter',
                  point_cloud_range=point_cloud_range),
             dict(type='ObjectRangeFilter',
                  point_cloud_range=point_cloud_range),
             dict(type='ObjectNameFilter', classes=class_names),
             dict(type='PointShuffle'),
             dict(type='Pack3DDetInputs', keys=keys)
         ],
         weak=[
             dict(type='PointsRangeFilter',
                  point_cloud_range=point_cloud_range),
             dict(type='mmweak.PackPointDet3DInputs', keys=keys)
         ]),
]
# Det3DDataset's empty-GT filter reads data_samples.gt_instances_3d, which
# mmdet.MultiBranch packs per branch: off for the two-view items
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            ann_file=ann_file_pseudo,
            pipeline=train_pipeline,
            filter_empty_gt=False)))
