# Fully supervised upper bound on the embedded synthetic VOC-layout set:
# deeplabv3plus_r18-d8_synthetic-voc_pseudo.py (model, sizes, schedule)
# trained on the pixel labels of `trainaug`, read as voc12aug_seg_full.py
# reads VOC: `train` with SegmentationClass (255 band) followed by the
# `aug` ids with SegmentationClassAug.
_base_ = ['./deeplabv3plus_r18-d8_synthetic-voc_pseudo.py']

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(
                type={{_base_.dataset_type}},
                data_root={{_base_.data_root}},
                data_prefix=dict(
                    img_path='JPEGImages', seg_map_path='SegmentationClass'),
                ann_file='ImageSets/Segmentation/train.txt',
                pipeline={{_base_.train_pipeline}}),
            dict(
                type={{_base_.dataset_type}},
                data_root={{_base_.data_root}},
                data_prefix=dict(
                    img_path='JPEGImages',
                    seg_map_path='SegmentationClassAug'),
                ann_file='ImageSets/Segmentation/aug.txt',
                pipeline={{_base_.train_pipeline}}),
        ]))
