# Copyright (c) mmweak contributors.
"""Offline WSSS maths shared by the tools: seeds, CRF, IRN random walk."""
from .seeds import bg_boundaries, bg_plane, cams_to_label, power_background
from .irn_inference import irn_pseudo_label, irn_walk_maps
from .random_walk import affinity_from_boundary, propagate
from .crf import DenseCRF
from .ir_labels import combine_confident, confident_seed, ir_label
from .mars import (CentroidBank, FeatureProjection, ImageClusters,
                   KMeansResult, RankedCentroids, TargetShare,
                   background_distance, binarize_similarity,
                   cluster_image_classes, cluster_target_flags,
                   collect_centroids, debias_label, feature_moments,
                   fit_feature_projection, kmeans_batched, rank_centroids,
                   selected_target_share, similarity_map)

__all__ = [
    'bg_boundaries', 'bg_plane', 'cams_to_label', 'power_background',
    'irn_pseudo_label', 'irn_walk_maps', 'affinity_from_boundary', 'propagate',
    'DenseCRF', 'ir_label', 'confident_seed', 'combine_confident',
    'kmeans_batched', 'KMeansResult', 'cluster_image_classes',
    'ImageClusters', 'collect_centroids', 'CentroidBank', 'rank_centroids',
    'RankedCentroids', 'background_distance', 'similarity_map',
    'binarize_similarity', 'debias_label', 'cluster_target_flags',
    'selected_target_share', 'TargetShare', 'FeatureProjection',
    'feature_moments', 'fit_feature_projection'
]
