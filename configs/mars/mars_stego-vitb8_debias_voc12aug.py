# MARS offline debiasing (Stage B') of VOC 2012 trainaug pseudo labels.
#
# Paper: Sanghyun Jo, In-Jae Yu, Kyungsu Kim, "MARS: Model-agnostic Biased
# Object Removal without Additional Supervision for Weakly-Supervised
# Semantic Segmentation", ICCV 2023, arXiv 2304.09913.
#
# Values:
#   [paper]   k_fg = 2, k_bg = 2; alpha = 0.40; mean distance (Eq. 1, the
#             prose says "min"); similarity = ReLU(max over the image's tags
#             of cos) (Eq. 4); biased pixels = -1 (254 on disk); dense CRF
#             on the similarity map; STEGO (DINO ViT-B/8 + 70-d head)
#             trained on the target images as the feature model.
#   [mmweak default] CRF parameters = the `deeplab` preset (the paper gives
#             none); K-means++ seed 0, 100 iterations, on unit-norm features;
#             single-scale features at the native stride (8); fp16 feature
#             cache; tags from cls_labels.json (fallback: label values);
#             ImageNet mean/std for the ViT input.
#
# The feature model is supplied by YOU: mmweak never downloads weights.
# Set `feature_checkpoint` below (or pass
#   --cfg-options feature_model.checkpoint=/path/to/stego_vitb8.pth)
# to a local mmpretrain-format ViT-B/8 checkpoint (keys `backbone.*` or
# bare backbone keys; a STEGO-style 1x1 head can be added with
# head_channels=70 and its weights under `head.`). The tool refuses to run
# while it is None.
#
#   python tools/mars/debias_labels.py \
#       configs/mars/mars_stego-vitb8_debias_voc12aug.py all \
#       --cfg-options feature_model.checkpoint=/path/to/stego_vitb8.pth
#   # sharded: torchrun --nproc_per_node=N tools/mars/debias_labels.py \
#   #     CONFIG all --launcher pytorch
data_root = 'data/VOCdevkit/VOC2012'
feature_checkpoint = None  # REQUIRED: local checkpoint of the USS model

img_dir = data_root + '/JPEGImages'
img_list = data_root + '/ImageSets/Segmentation/trainaug.txt'
img_suffix = '.jpg'
# baseline pseudo labels Y^b (any WSSS method, e.g. RS+EPM), 0..20, 255
label_dir = 'work_dirs/pseudo_labels_voc12aug'
label_suffix = '.png'
tags_file = data_root + '/cls_labels.json'
gt_dir = data_root + '/SegmentationClassAug'  # sanity metric; None to skip
num_classes = 21

feature_model = dict(
    type='DenseFeatureExtractor',
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='b',
        patch_size=8,
        img_size=224,
        out_type='featmap'),
    checkpoint=feature_checkpoint,
    # STEGO-style 70-d cluster head (uncomment if your checkpoint has one)
    # head_channels=70, head_prefix='head.',
    scales=(1.0, ),
    flip=False,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375])

k_fg = 2  # paper
k_bg = 2  # paper
alpha = 0.4  # paper
reduce = 'mean'  # paper (Eq. 1)
crf = 'deeplab'  # paper uses a CRF; the preset is an mmweak default
kmeans_iters = 100
seed = 0
cluster_batch_size = 8
cache_fp16 = True
out_dir = 'work_dirs/mars_stego-vitb8_debias_voc12aug'
