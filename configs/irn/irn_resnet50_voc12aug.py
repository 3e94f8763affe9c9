# IRN (Ahn, Cho and Kwak, CVPR 2019), semantic part, on PASCAL VOC 2012 +
# SBD `trainaug`: the class-boundary branch of IRNet trained from the
# inter-pixel relations of IR labels (confident CAM labels: 0 background,
# 1..20, 255 unknown), over the frozen Stage A CAM network.
# Recipe of jiwoon-ahn/irn (run_sample.py, step/train_irn.py): crop 512,
# random rescale 0.5-1.5, flip, batch 32, 3 epochs, SGD lr 0.1 without
# momentum (IRN's PolyOptimizer passes weight_decay into SGD's positional
# momentum slot: momentum 1e-4, in effect none), weight decay 1e-4, poly
# decay (power 0.9) per iteration, pairs within radius 10 on the stride-4
# grid. IRN's code halves the boundary loss (it averages it with the
# displacement loss): loss_weight=0.5 keeps that step size.
#
# Inputs (config variables; on the command line override the keys they
# feed, a variable is read where a dict uses it):
# - cam_checkpoint: the Stage A checkpoint (configs/wsss/
#   cam_resnet50_voc12aug.py), loaded into the frozen backbone
#   (--cfg-options model.backbone.init_cfg.checkpoint=CKPT);
# - ir_label_dir: `<id>.png` IR labels of tools/wsss/make_ir_labels.py,
#   absolute or relative to data_root
#   (--cfg-options train_dataloader.dataset.data_prefix.seg_map_path=DIR).
# Then: python tools/train.py configs/irn/irn_resnet50_voc12aug.py and
# tools/wsss/make_pseudo_masks.py --method irn (random walk, beta 10,
# exp_times 8, background 0.25).
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/VOCdevkit/VOC2012'
cam_checkpoint = 'work_dirs/cam_resnet50_voc12aug/epoch_5.pth'
ir_label_dir = 'ir_labels'
crop_size = 512
max_epochs = 3

model = dict(
    type='IRNet',
    # mmseg's preprocessor pads images (0 after normalisation, as IRN) and
    # IR labels (255) to the crop size; mean/std/RGB of the Stage A model
    data_preprocessor=dict(
        type='mmseg.SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(crop_size, crop_size)),
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        strides=(1, 2, 2, 1),
        out_indices=(0, 1, 2, 3),
        style='pytorch',
        init_cfg=dict(
            type='Pretrained', checkpoint=cam_checkpoint,
            prefix='backbone')),
    # stem (after max-pooling) + the four stages, as IRN's five levels
    in_channels=(64, 256, 512, 1024, 2048),
    stem_level=True,
    edge_channels=32,
    num_groups=4,
    radius=10,
    loss_weight=0.5)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmseg.LoadAnnotations'),
    # scale relative to a 500-pixel long side (VOC's): (0.5, 1.5) x size
    dict(
        type='mmseg.RandomResize',
        scale=(500, 500),
        ratio_range=(0.5, 1.5),
        resize_type='mmseg.Resize',
        keep_ratio=True,
        interpolation='bicubic'),
    dict(type='mmseg.RandomFlip', prob=0.5),
    dict(type='mmseg.RandomCrop', crop_size=(crop_size, crop_size)),
    dict(type='mmseg.PackSegInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=True,  # IRN: max_step = (N // batch) * epochs
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='mmseg.PascalVOCDataset',
        data_root=data_root,
        ann_file='ImageSets/Segmentation/trainaug.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=ir_label_dir),
        pipeline=train_pipeline))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.0, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
# IRN has no validation: the result is judged by its pseudo masks
# (tools/wsss/make_pseudo_masks.py --method irn, then the mask evaluation)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
auto_scale_lr = dict(base_batch_size=32, enable=False)

default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
