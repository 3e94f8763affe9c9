# Copyright (c) mmweak contributors.
"""Dump the Point-DETR3D teacher's pseudo labels during ``tools/test.py``
(Point-DETR3D, AAAI 2024, arXiv 2403.15317; spec section 5 and 10).

Run the teacher config's test loop on the *train* split with this metric
(its module listed in ``custom_imports``)::

    custom_imports = dict(imports=[
        'mmweak.evaluation.metrics.dump_pseudo_labels_3d', ...])
    test_evaluator = dict(
        type='mmweak.DumpPseudoLabels3D',
        out_file='work_dirs/teacher/pseudo_labels.pkl')

then build the student's info pkl with
``tools/point_detr3d/merge_pseudo_labels.py PKL --train-pkl TRAIN_PKL
--out OUT``.

The test pipeline must read the points with ``mmweak.LoadPointAnnotations3D``
(default ``skip_ignored=True``): objects outside the detection classes
(``bbox_label_3d == -1``) then get no point and no query, as the merge
expects; a prediction labelled -1 stops ``process`` with an error naming
the sample.
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmweak.datasets.pseudo_labels_3d import (dump_records, prediction_record,
                                              summarize_records)
from mmweak.registry import METRICS


def record_key(record: dict) -> Any:
    """A record's key: its LiDAR file name (unique per sample, also across
    the parts of a ``ConcatDataset``), else its ``sample_idx``."""
    if record.get('lidar_path'):
        return osp.basename(record['lidar_path'])
    return record['sample_idx']


@METRICS.register_module()
class DumpPseudoLabels3D(BaseMetric):
    """Collect the teacher's one-box-per-point predictions per
    ``sample_idx`` and write them as a pseudo-label pkl (spec section 5).

    ``process`` turns every prediction into a record of v2 pseudo instances
    (:func:`mmweak.datasets.pseudo_labels_3d.prediction_record`: gravity
    centre ``bbox_3d``, ``num_lidar_pts`` counted in the sample's LiDAR file,
    ``score``, ``is_pseudo``, ...), so the merge needs nothing else.
    ``compute_metrics`` (rank 0, after mmengine's collect) writes
    ``{'format', 'metainfo', 'records': {key: record}}`` atomically (key:
    the LiDAR file name, else ``sample_idx``)
    and returns counts; when the data samples carry GT boxes aligned with
    the points (``gt_instances_3d.bboxes_3d`` or ``eval_ann_info``, same
    count and labels), also the pseudo boxes' mean BEV centre error, scale
    error (1 - aligned IoU), yaw error and the fractions within 1 m / 2 m.

    Args:
        out_file (str): Output ``.pkl`` path.
        count_points (bool): Count ``num_lidar_pts`` from the LiDAR file
            named by the data sample's ``lidar_path``. Defaults to True.
        backend_args (dict, optional): File backend of the LiDAR files.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Metric key prefix. Defaults to ``'pseudo'``.
        collect_dir (str, optional): Directory for the CPU collect.
    """
    default_prefix: Optional[str] = 'pseudo'

    def __init__(self,
                 out_file: str,
                 count_points: bool = True,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device,
                         prefix=prefix,
                         collect_dir=collect_dir)
        if not out_file or not str(out_file).endswith('.pkl'):
            raise ValueError(f'DumpPseudoLabels3D: out_file must end in '
                             f'.pkl, got {out_file!r}')
        self.out_file = str(out_file)
        self.count_points = count_points
        self.backend_args = backend_args

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Convert each prediction into a pseudo-label record."""
        for data_sample in data_samples:
            self.results.append(
                prediction_record(data_sample,
                                  count_points=self.count_points,
                                  backend_args=self.backend_args))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Write the records (one per sample) and summarise them."""
        records: Dict[Any, dict] = {}
        for rec in results:  # distributed padding repeats samples
            records.setdefault(record_key(rec), rec)
        metainfo = dict(self.dataset_meta or {})
        dump_records(self.out_file, records, metainfo)
        summary = summarize_records(records.values())
        print_log(
            f'DumpPseudoLabels3D: {summary["num_boxes"]} pseudo boxes of '
            f'{summary["num_samples"]} samples -> '
            f'{osp.abspath(self.out_file)}',
            logger='current')
        return summary
