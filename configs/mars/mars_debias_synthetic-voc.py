# MARS offline debiasing (Steps 1-3) on the embedded synthetic VOC-layout set
# (tools/dataset_converters/make_synthetic_voc.py), run by the WSSS main job
# (tools/wsss/run_pipeline.py) on its IRN pseudo masks.
#
# The feature model. The paper clusters STEGO features (DINO ViT-B/8 + a
# 70-d head) trained without labels on the target images. No such model
# exists for the embedded set and mmweak downloads nothing, so the main job
# uses a network that never saw this data set nor any pixel label: the
# committed demo backbone checkpoints/demo/resnet50-w16_synthetic-cls.pth
# (a quarter-width ResNet-50 pretrained on image classification of the
# separately seeded SyntheticWSOL set; checkpoints/demo/README.md), read at
# its layer2 (128-d) with the input at scale 2, resized by the extractor to
# the stride-8 grid of the image (16x13 on the ~128x100 images). Like DINO features trained on ImageNet and used on
# VOC, it is class-agnostic for this data set.
#
# Measured on the embedded set (stray structures 0.1, the main job's IRN
# masks, `train` split GT; chosen there, never on `val`): the Stage A CAM
# network (tag-supervised on these very images) ranks the water clusters
# of `boat` as FAR from the background (distance-purity correlation -0.10:
# it learned water as boat evidence), so MARS removed almost nothing
# (boat FP rate 21.7 -> 19.6); this backbone ranks them near (correlation
# +0.30 at layer3, +0.52 at layer2) and removes more than half of the boat
# false positives on the water band.
#
# `center_features=True` (label-free centring; these post-ReLU features
# are all non-negative) removed more of the boat false positives but also
# true pixels of every class, and its MARS segmenter lost 9.3 val mIoU
# (BENCHMARKS.md, MARS, 2026-11-29), so it stays off here. So does
# `feature_pca_dim` (label-free PCA of the centred features): with 3
# components the boat FP rate fell by two thirds, but cars and persons lost
# a part to 254 and the MARS segmenter lost 6.6 val mIoU over three seeds
# (BENCHMARKS.md, MARS, PCA projection).
#
# Set by the main job (paths of its own stages):
#   label_dir=<IRN masks>  tags_file=<cls_labels.json>  out_dir=<stage dir>
# Paper values: k_fg = k_bg = 2, alpha = 0.4, mean distance (Eq. 1),
# the deeplab CRF preset (mmweak's default; the paper gives no parameters).
_base_ = ['./mars_stego-vitb8_debias_voc12aug.py']

data_root = 'data/synthetic_voc/VOCdevkit/VOC2012'
img_dir = data_root + '/JPEGImages'
img_list = data_root + '/ImageSets/Segmentation/trainaug.txt'
label_dir = 'work_dirs/pseudo_masks'
tags_file = data_root + '/cls_labels.json'
gt_dir = data_root + '/SegmentationClassAug'  # the sanity metric only
out_dir = 'work_dirs/mars_debias_synthetic-voc'

feature_model = dict(
    _delete_=True,
    type='DenseFeatureExtractor',
    backbone=dict(
        type='mmpretrain.ResNet',
        depth=50,
        stem_channels=16,
        base_channels=16,
        out_indices=(1, ),  # layer2: 128-d, stride 8
        style='pytorch'),
    checkpoint='{{fileDirname}}/../../checkpoints/demo/'
    'resnet50-w16_synthetic-cls.pth',
    scales=(2.0, ),
    flip=False,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375])
