# MARS Step 4 (Jo et al., "MARS: Model-agnostic Biased Object Removal without
# Additional Supervision for Weakly-Supervised Semantic Segmentation", ICCV
# 2023, Eqs. 6-7): mmseg's DeepLabV3+-R101 trained on VOC 2012 `trainaug`
# with the debiased labels Y^db of tools/mars/debias_labels.py (254 =
# removed biased region), a student and an EMA teacher, validated on `val`.
#
# The segmenter, data, schedule and evaluator are those of
# configs/wsss/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512_pseudo.py
# (mmseg's 20k VOC-aug recipe: 4 GPUs x 4 images, crop 512, SGD lr 0.01,
# poly); MARS adds:
#   [paper]  teacher = EMA of the student, starting as its copy; teacher
#            labels fill the 254 pixels (complementation, Eq. 6) with a
#            dense CRF R on the teacher (teacher_crf, `deeplab` preset:
#            mmweak's default, the paper gives no parameters);
#            certainty-weighted CE (Eq. 7); DeepLabV3+-R101.
#   [default] EMA decay 0.999 (momentum 0.001, DHR's code by the same
#            authors); teacher argmax restricted to background + the
#            image's tags; WCE normalised over the valid pixels; prediction
#            from the teacher.
#   [host]   mmseg's 20k schedule instead of DHR's recipe (batch 16, SGD
#            lr 1e-3 with the decoder x10, wd 4e-5, RandomResize 320-640,
#            colour jitter, 100 epochs), as the spec allows for an mmseg
#            host; see configs/mars/README.md.
#
# Inputs (set here or with --cfg-options):
#   debiased_label_dir: the `labels/` folder written by
#     tools/mars/debias_labels.py (0..20, 254, 255), absolute or relative to
#     `data_root` -> train_dataloader.dataset.data_prefix.seg_map_path
#   tag_file: image tags of trainaug, written by
#     tools/dataset_converters/make_cls_labels.py --split trainaug
#     --source xml --out data/VOCdevkit/VOC2012/cls_labels.json
#     -> train_dataloader.dataset.pipeline.2.tag_file
# A plain DeepLabV3+ checkpoint (e.g. the base segmenter) can be given as
# `load_from`: it fills both branches.
_base_ = ['../wsss/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512_pseudo.py']

data_root = 'data/VOCdevkit/VOC2012'
debiased_label_dir = 'mars_labels'
tag_file = data_root + '/cls_labels.json'
crop_size = (512, 512)
img_scale = (2048, 512)

# the base segmenter becomes both branches
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
    # tags of the whole image, before any resize or crop (254 is kept)
    dict(type='LoadImageLevelLabels', tag_file=tag_file, num_classes=21),
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
