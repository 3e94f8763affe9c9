# Copyright (c) mmweak contributors.
"""Point-DETR3D teacher vs. CenterPoint student test step, and the
pseudo-labelling throughput (CPU, pillar 0.2, one process).

    python tools/benchmarks/bench_point_detr3d.py [--points 280000]
        [--iters 3] [--scenes 20] [--threads N] [--tiny]

Data: a synthetic nuScenes-layout set (``mmweak.testing.make_nuscenes_root``:
real layout, read by mmdet3d's own loaders; one train scene with enough
keyframes for ``--scenes`` point-only samples after the 5 % split of
``tools/point_detr3d/make_point_split.py``). The generator's keyframe
clouds (~20k points) are far sparser than a real 10-sweep nuScenes input
(~250k-300k points), so every train LiDAR file is tiled to ``--points``
points (copies of the cloud, each copy but the first jittered by 3 cm in
x, y, z) and written back: the benchmark loads, voxelises and counts points
at that size. No sweeps are loaded (the configs' multi-sweep loader is
dropped: the tiled keyframe stands for the 10-sweep cloud).

Builds, with random weights (no checkpoint), from the configs:

- the teacher ``configs/point_detr3d/point-detr3d_pillar02_nus-r05.py``
  (``mmweak.PointDETR3D``, LiDAR only, 0.2 m pillars, 512 x 512 BEV, one
  query per annotated point);
- the student ``configs/point_detr3d/
  centerpoint-twoview_pillar02_nus-r05-pseudo.py`` (its predict path is
  mmdet3d's CenterPoint, same network as
  ``centerpoint_pillar02_nus-r05-box.py``; rotated NMS on the CPU).

Timed, in ``eval()`` and ``torch.no_grad()``, alternating the two models
after one warm-up round, the median of ``--iters``:

1. the teacher's ``test_step`` (data preprocessor with voxelisation,
   forward, box decoding) on the point-only scene with the most annotated
   points, loaded through the teacher's pseudo-labelling pipeline (its N
   annotated points = the scene's GT objects, reported);
2. the student's ``test_step`` on the same packed scene.

The ratio teacher / student is the figure (goal: <= 1.5). With random
weights (``init_weights``: the student's heatmap prior of 0.1) the student
decodes many low-score boxes into its rotated NMS; a trained model keeps
fewer, so its decoding is, if anything, cheaper than timed here. The
``no decoding`` rows (data preprocessor, network and head outputs; "x
student" against the student's ``no decoding`` row) separate that cost.

3. Pseudo-labelling throughput: ``tools/point_detr3d/make_pseudo_labels.py``
   ``main`` (one process, batch 1, no loader workers) with the teacher's
   random weights saved as a checkpoint, on the split's point-only pkl
   (``--scenes`` samples, the config's pseudo-label pipeline: one teacher
   box per valid stored point): scenes per second over the wall time of
   ``main``
   (config, dataset and model build, checkpoint load, loading, the teacher,
   the ``num_lidar_pts`` count, atomic record writes, the merge and the
   summary; the imports are done before the clock starts).

``--tiny`` runs an 8-channel LiDAR branch on a 64 x 64 grid (1.6 m
pillars), a 16-dim teacher head, 4000 points, 2 scenes and 1 iteration: a
smoke run of the script, not a figure.
"""
import argparse
import copy
import math
import os.path as osp
import pickle
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, MODELS, init_default_scope
from mmengine.utils import import_modules_from_strings

from mmweak.testing import (load_tool_script, make_nuscenes_root,
                            tiny_pillar_options)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEACHER = 'configs/point_detr3d/point-detr3d_pillar02_nus-r05.py'
STUDENT = 'configs/point_detr3d/centerpoint-twoview_pillar02_nus-r05-pseudo.py'
SPLIT_TOOL = 'tools/point_detr3d/make_point_split.py'
PSEUDO_TOOL = 'tools/point_detr3d/make_pseudo_labels.py'
RATIO = 0.05
JITTER = 0.03  # metres, on the tiled copies of the cloud

# --tiny: the LiDAR branch with 8 channels on a 64 x 64 grid (the sizes of
# the runner's smoke test, tests/test_tools/test_run_point_detr3d_pipeline.py)
TINY_TEACHER = tiny_pillar_options('point_detr3d')
TINY_STUDENT = tiny_pillar_options('two_view_centerpoint')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--points',
        type=int,
        default=280000,
        help='points per scene: each LiDAR file is tiled (and jittered) to '
        'this size (~ a 10-sweep nuScenes cloud)')
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument(
        '--scenes',
        type=int,
        default=20,
        help='point-only scenes pseudo-labelled for the throughput')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--tiny',
        action='store_true',
        help='8-channel 64x64 model, 4000 points, 2 scenes, 1 iteration '
        '(smoke)')
    args = parser.parse_args(argv)
    if args.tiny:
        args.points, args.scenes, args.iters = 4000, 2, 1
    for name in ('points', 'iters', 'scenes'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1')
    return args


def keyframes_for(point_scenes: int, ratio: float = RATIO) -> int:
    """Train keyframes whose split (``ceil(ratio * n)`` labelled) leaves
    ``point_scenes`` point-only samples."""
    n = point_scenes
    while n - math.ceil(ratio * n) < point_scenes:
        n += 1
    return n


def tile_cloud(path: str, num_points: int, rng: np.random.Generator,
               dims: int = 5) -> int:
    """Tile the float32 LiDAR file at ``path`` to ``num_points`` points in
    place (the first copy exact, the others jittered in x, y, z); returns
    the original size."""
    pts = np.fromfile(path, dtype=np.float32).reshape(-1, dims)
    reps = -(-num_points // len(pts))
    tiled = np.tile(pts, (reps, 1))[:num_points]
    noise = rng.normal(0, JITTER, (len(tiled), 3)).astype(np.float32)
    noise[:len(pts)] = 0
    tiled[:, :3] += noise
    tiled.tofile(path)
    return len(pts)


def unflatten(flat: Dict) -> Dict:
    """``{'a.b': v}`` -> ``{'a': {'b': v}}``."""
    out: Dict = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split('.')
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def make_data(tmp: str, args: argparse.Namespace) -> Dict:
    """Synthetic set, tiled clouds and the 5 % split."""
    root = make_nuscenes_root(
        tmp,
        num_samples_per_scene=keyframes_for(args.scenes),
        ground_points=1500 if args.tiny else 20000,
        gt_database=False)
    with open(root['train_pkl'], 'rb') as f:
        infos = pickle.load(f)['data_list']
    rng = np.random.default_rng(0)
    lidar_dir = osp.join(root['data_root'], 'samples', 'LIDAR_TOP')
    sizes = [
        tile_cloud(
            osp.join(lidar_dir, osp.basename(i['lidar_points']['lidar_path'])),
            args.points, rng) for i in infos
    ]
    split = load_tool_script(ROOT, SPLIT_TOOL)
    split.main([
        root['train_pkl'], '--ratio',
        str(RATIO), '--out-dir', root['data_root']
    ])
    stem = osp.splitext(root['train_pkl'])[0]
    return dict(
        data_root=root['data_root'],
        labelled=f'{stem}_r05_labelled.pkl',
        point=f'{stem}_r05_point.pkl',
        generated_points=int(statistics.median(sizes)))


def teacher_options(cfg: Config, data: Dict, tiny: bool) -> Dict:
    """The teacher config's pseudo-labelling loader on the synthetic set
    (keyframe loader only), and the --tiny sizes."""
    pipeline = [copy.deepcopy(cfg.load_points[0])] + [
        copy.deepcopy(t) for t in cfg.pseudo_label_pipeline
        if t['type'] not in ('LoadPointsFromFile', 'LoadPointsFromMultiSweeps')
    ]
    opts = {
        'pseudo_label_dataloader.num_workers': 0,
        'pseudo_label_dataloader.persistent_workers': False,
        'pseudo_label_dataloader.dataset.data_root': data['data_root'] + '/',
        'pseudo_label_dataloader.dataset.ann_file': data['point'],
        'pseudo_label_dataloader.dataset.metainfo': dict(
            classes=list(cfg.class_names), version='v1.0-mini'),
        'pseudo_label_dataloader.dataset.pipeline': [
            t.to_dict() if hasattr(t, 'to_dict') else dict(t)
            for t in pipeline
        ],
    }
    if tiny:
        opts.update(TINY_TEACHER)
    return opts


def build(cfg: Config) -> torch.nn.Module:
    """Model with the configs' random initialisation (``init_weights``: the
    student's heatmap prior of 0.1 included; no checkpoint), in eval
    mode."""
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def pick_scene(dataset) -> Dict:
    """The packed point-only scene with the most annotated objects."""
    counts = [
        len(dataset.get_data_info(i).get('instances', []))
        for i in range(len(dataset))
    ]
    return dataset[int(np.argmax(counts))]


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t_cfg = Config.fromfile(osp.join(ROOT, TEACHER))
    s_cfg = Config.fromfile(osp.join(ROOT, STUDENT))
    for cfg in (t_cfg, s_cfg):
        import_modules_from_strings(**cfg.custom_imports)
    init_default_scope('mmdet3d')
    pseudo_tool = load_tool_script(ROOT, PSEUDO_TOOL)

    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(tmp, args)
        opts = teacher_options(t_cfg, data, args.tiny)
        t_cfg.merge_from_dict(opts)
        if args.tiny:
            s_cfg.merge_from_dict(TINY_STUDENT)
        teacher, student = build(t_cfg), build(s_cfg)

        dataset = DATASETS.build(t_cfg.pseudo_label_dataloader.dataset)
        item = pick_scene(dataset)
        num_points = len(item['inputs']['points'])
        num_ann = len(item['data_samples'].gt_instances_3d.points_3d)
        batches = {
            'teacher': pseudo_collate([item]),
            'student': pseudo_collate([copy.deepcopy(item)])
        }
        with torch.no_grad():
            vox = teacher.data_preprocessor(
                copy.deepcopy(batches['teacher']), False)
        num_pillars = len(vox['inputs']['voxels']['voxels'])

        def step(model: torch.nn.Module, batch: Dict) -> Callable:

            def run() -> Optional[int]:
                with torch.no_grad():
                    out = model.test_step(batch)
                return len(out[0].pred_instances_3d.bboxes_3d)

            return run

        def network(model: torch.nn.Module, batch: Dict) -> Callable:
            """Data preprocessor + features + head outputs, no decoding
            (mmdet3d's ``MVXTwoStageDetector`` has no ``mode='tensor'``)."""

            def run() -> Optional[int]:
                with torch.no_grad():
                    data = model.data_preprocessor(batch, False)
                    if model is teacher:
                        model(**data, mode='tensor')
                    else:
                        metas = [s.metainfo for s in data['data_samples']]
                        _, feats = model.extract_feat(data['inputs'], metas)
                        model.pts_bbox_head(feats)
                return None

            return run

        runs = {
            'CenterPoint student': step(student, batches['student']),
            'Point-DETR3D teacher': step(teacher, batches['teacher']),
            'CenterPoint student, no decoding':
            network(student, batches['student']),
            'Point-DETR3D teacher, no decoding':
            network(teacher, batches['teacher']),
        }
        times: Dict[str, List[float]] = {name: [] for name in runs}
        boxes: Dict[str, Optional[int]] = {}
        for it in range(args.iters + 1):  # the first round is the warm-up
            for name, fn in runs.items():
                start = time.perf_counter()
                boxes[name] = fn()
                if it > 0:
                    times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(t) for name, t in times.items()}
        ratio = med['Point-DETR3D teacher'] / med['CenterPoint student']
        net_ratio = med['Point-DETR3D teacher, no decoding'] / \
            med['CenterPoint student, no decoding']

        # 3. pseudo labelling through the tool's main
        ckpt = osp.join(tmp, 'teacher_random.pth')
        torch.save(dict(state_dict=teacher.state_dict(), meta={}), ckpt)
        cfg_path = osp.join(tmp, 'teacher_bench.py')
        with open(cfg_path, 'w') as f:
            f.write(f'_base_ = [{osp.join(ROOT, TEACHER)!r}]\n')
            for key, value in unflatten(opts).items():
                f.write(f'{key} = {value!r}\n')
        out_dir = osp.join(tmp, 'pseudo')
        start = time.perf_counter()
        result = pseudo_tool.main([
            cfg_path, ckpt, '--out-dir', out_dir, '--num-workers', '0',
            '--train-pkl', data['labelled'], data['point']
        ])
        wall = time.perf_counter() - start
        scenes = int(result['samples'])

    grid = t_cfg.model.pts_middle_encoder.output_shape
    voxel = t_cfg.model.data_preprocessor.voxel_layer.voxel_size
    size = 'tiny 8-channel model' if args.tiny else 'random weights'
    print(f'test step (voxelisation + forward + decoding), batch 1, '
          f'{voxel[0]} m pillars ({grid[0]}x{grid[1]} BEV), {size}, '
          f'{torch.get_num_threads()} threads, median of {args.iters} '
          '(after 1 warm-up)')
    print(f'scene: {num_points} points in range (files tiled to '
          f'{args.points} from ~{data["generated_points"]} generated), '
          f'{num_pillars} pillars, annotated points N = {num_ann}')
    print('| model | ms / scene | x student | boxes out |')
    print('|---|---|---|---|')
    for name, t in med.items():
        base = med[name.replace('Point-DETR3D teacher', 'CenterPoint student')]
        out = '-' if boxes[name] is None else boxes[name]
        print(f'| {name} | {1000 * t:.1f} | {t / base:.2f} | {out} |')
    print(f'teacher / student test-step ratio: {ratio:.2f} (goal <= 1.5)')
    print('teacher / student ratio without box decoding (data preprocessor '
          f'+ network): {net_ratio:.2f}')
    print(f'pseudo labelling (make_pseudo_labels.py main, 1 process, '
          f'batch 1): {scenes} scenes of {args.points} points in '
          f'{wall:.1f} s = {scenes / wall:.2f} scenes / s')
    return dict(
        teacher_ms=1000 * med['Point-DETR3D teacher'],
        student_ms=1000 * med['CenterPoint student'],
        ratio=ratio,
        ratio_no_decoding=net_ratio,
        scenes_per_s=scenes / wall,
        annotated_points=num_ann)


if __name__ == '__main__':
    main()
