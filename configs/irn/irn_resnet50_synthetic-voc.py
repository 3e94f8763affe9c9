# IRN (semantic part) on the embedded VOC-layout set
# (tools/dataset_converters/make_synthetic_voc.py: images of about 128x100),
# over the frozen quarter-width Stage A network of
# configs/wsss/cam_resnet50_synthetic-voc.py (stem/base channels 16). The
# VOC recipe scaled to the image size for the CPU main job: random rescale
# 0.5-1.5 of a 128-pixel long side, flip, crop 112, batch 16, 3 epochs.
# Pairs within radius 5 of the 28x28 stride-4 grid (VOC: radius 10 on
# 128x128, a smaller share of the crop; 5 is also IRN's random-walk radius).
# Momentum 0.9 instead of the reference's plain SGD: this run has 111
# iterations against about 990 on VOC, and plain SGD at lr 0.1 leaves the
# boundary branch under-trained (in a trial on this set, IRN masks of the
# first 60 `train` images: 25.6 mIoU with plain SGD, 33.0 with momentum 0.9;
# 32.1 with plain SGD after 1,000 iterations).
# tools/wsss/run_pipeline.py sets the checkpoint and the IR label directory
# through the keys below.
_base_ = ['./irn_resnet50_voc12aug.py']

data_root = 'data/synthetic_voc/VOCdevkit/VOC2012'
cam_checkpoint = 'work_dirs/cam_resnet50_synthetic-voc/epoch_12.pth'
ir_label_dir = 'ir_labels'
crop_size = 112

model = dict(
    data_preprocessor=dict(size=(crop_size, crop_size)),
    backbone=dict(
        stem_channels=16,
        base_channels=16,
        init_cfg=dict(checkpoint=cam_checkpoint)),
    in_channels=(16, 64, 128, 256, 512),
    radius=5)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    dict(
        type='mmseg.RandomResize',
        scale=(128, 128),
        ratio_range=(0.5, 1.5),
        resize_type='mmseg.Resize',
        keep_ratio=True,
        interpolation='bicubic'),
    dict(type='mmseg.RandomFlip', prob=0.5),
    dict(type='mmseg.RandomCrop', crop_size=(crop_size, crop_size)),
    dict(type='mmseg.PackSegInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        data_prefix=dict(seg_map_path=ir_label_dir),
        pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(momentum=0.9))
default_hooks = dict(logger=dict(interval=10))
