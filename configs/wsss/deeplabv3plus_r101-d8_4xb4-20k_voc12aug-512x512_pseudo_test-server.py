# VOC 2012 `test` (1,456 images, no public labels) for the evaluation
# server (wsss-protocol spec, section 7): the DeepLabV3+-R101 of
# deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512_pseudo.py with
# multi-scale (0.5, 1.0, 1.5, 2.0) + flip testing (mmseg's SegTTAModel,
# averaged softmax) writes one PNG of class ids per image, named by the
# image id, into the server layout `results/VOC2012/Segmentation/
# comp6_test_cls/` (comp6: trained with data beyond VOC, here SBD tags and
# ImageNet pretraining). Test only (no training or validation keys):
#   python tools/test.py THIS_CONFIG CKPT --cfg-options \
#   test_evaluator.output_dir=OUT/results/VOC2012/Segmentation/comp6_test_cls
#   (cd OUT && tar -czf results.tgz results)   # upload results.tgz
# (without --cfg-options: work_dirs/voc12_test_server/results/...)
# The test images (VOC2012test.tar) unpack into the same VOCdevkit/VOC2012
# with ImageSets/Segmentation/test.txt. mmseg's IoUMetric writes
# single-channel PNGs whose pixel values are the class ids (0..20); the
# devkit scores a PNG's values as class indices, the same values as VOC's
# indexed (palette) PNGs (not tried on the server from here). Add the
# `deeplab` CRF offline if the reported protocol uses it.
_base_ = './deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512_pseudo.py'

model = dict(
    _delete_=True, type='mmseg.SegTTAModel', module={{_base_.model}})
tta_scales = [0.5, 1.0, 1.5, 2.0]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='mmseg.Resize', scale_factor=r, keep_ratio=True)
                for r in tta_scales
            ],
            [
                dict(type='mmseg.RandomFlip', prob=0.,
                     direction='horizontal'),
                dict(type='mmseg.RandomFlip', prob=1.,
                     direction='horizontal'),
            ],
            # no LoadAnnotations: the test split has no labels
            [dict(type='mmseg.PackSegInputs')],
        ]),
]
test_dataloader = dict(
    dataset=dict(
        ann_file='ImageSets/Segmentation/test.txt', pipeline=test_pipeline))
test_evaluator = dict(
    type='mmseg.IoUMetric',
    format_only=True,
    output_dir='work_dirs/voc12_test_server/results/VOC2012/Segmentation/'
    'comp6_test_cls')

train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
val_dataloader = None
val_cfg = None
val_evaluator = None
