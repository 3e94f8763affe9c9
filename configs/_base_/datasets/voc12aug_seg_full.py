# PASCAL VOC 2012 + SBD with its pixel labels: the fully supervised upper
# bound of WSSS Stage C (wsss-protocol spec, section 8). The training set is
# the same 10,582 `trainaug` images, read as mmseg's pascal_voc12_aug.py
# does: VOC `train` with SegmentationClass (255 boundary band) followed by
# the SBD-only `aug` ids with SegmentationClassAug. Pipelines, validation,
# test-time augmentation and evaluator are those of voc12aug_seg.py.
_base_ = ['./voc12aug_seg.py']

dataset_train = dict(
    type={{_base_.dataset_type}},
    data_root={{_base_.data_root}},
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt',
    pipeline={{_base_.train_pipeline}})
dataset_aug = dict(
    type={{_base_.dataset_type}},
    data_root={{_base_.data_root}},
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='ImageSets/Segmentation/aug.txt',
    pipeline={{_base_.train_pipeline}})
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[dataset_train, dataset_aug]))
