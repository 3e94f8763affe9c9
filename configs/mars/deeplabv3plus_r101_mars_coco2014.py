# MARS Step 4 (Jo et al., ICCV 2023, Eqs. 6-7) on MS COCO 2014: the MARS
# segmenter of deeplabv3plus_r101_mars_voc12aug.py (student + EMA teacher,
# complementation with the teacher CRF, certainty-weighted CE; the same
# [paper] / [default] values) on the 81-class COCO set, with the data and
# schedule of configs/wsss/deeplabv3plus_r101-d8_4xb4-80k_coco2014-512x512_
# pseudo.py (mmseg's 80k schedule; MARS reports 49.4 val mIoU with
# RS+EPM's labels).
#
# Inputs (set here or with --cfg-options):
#   debiased_label_dir: tools/mars/debias_labels.py's `labels/` for the
#     train2014 stems (0..80, 254, 255)
#     -> train_dataloader.dataset.data_prefix.seg_map_path
#   tag_file: cls_labels_train2014.json, written by
#     tools/dataset_converters/coco2014_to_wsss.py
#     -> train_dataloader.dataset.pipeline.2.tag_file
_base_ = ['../wsss/deeplabv3plus_r101-d8_4xb4-80k_coco2014-512x512_pseudo.py']

data_root = 'data/coco2014'
debiased_label_dir = 'mars_labels'
tag_file = data_root + '/cls_labels_train2014.json'
crop_size = (512, 512)
img_scale = (2048, 512)

# mmengine's Runner gives the model the top-level `data_preprocessor` unless
# the model names one: name the base segmenter's (its crop size), and keep
# the top-level one in step
data_preprocessor = dict(size=crop_size)
model = dict(
    _delete_=True,
    type='MARSEncoderDecoder',
    data_preprocessor={{_base_.model.data_preprocessor}},
    segmentor={{_base_.model}},
    loss_wce=dict(type='WeightedCrossEntropyLoss'),
    restrict_to_tags=True,
    teacher_crf=dict(preset='deeplab'),
    predict_on='teacher')

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(type='LoadImageLevelLabels', tag_file=tag_file, num_classes=81),
    dict(
        type='mmseg.RandomResize',
        scale=img_scale,
        ratio_range=(0.5, 2.0),
        resize_type='mmseg.Resize',
        keep_ratio=True),
    dict(type='mmseg.RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='mmseg.RandomFlip', prob=0.5),
    dict(type='mmseg.PhotoMetricDistortion'),
    dict(
        type='mmseg.PackSegInputs',
        meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                   'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                   'reduce_zero_label', 'gt_tags')),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(seg_map_path=debiased_label_dir),
        pipeline=train_pipeline))

custom_hooks = [dict(type='MeanTeacherHook', momentum=0.001)]
