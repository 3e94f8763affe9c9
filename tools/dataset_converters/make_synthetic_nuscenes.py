# Copyright (c) mmweak contributors.
"""Write a small synthetic dataset in the layout nuScenes is distributed in.

    python tools/dataset_converters/make_synthetic_nuscenes.py OUT_ROOT \\
        [--version v1.0-mini | v1.0-trainval --num-scenes 40 10] \\
        [--num-samples-per-scene 4] [--seed 0] [--with-camera] \\
        [--ground-points 20000] [--image-size 320 180] [--overwrite]

Used by the Point-DETR3D (AAAI 2024, arXiv 2403.15317) CPU smoke pipeline
and tests, and by its main job: nuscenes-devkit's
``NuScenes(version=VERSION, dataroot=OUT_ROOT)`` loads it and mmdet3d's
own converter
(``tools/dataset_converters/create_nuscenes_infos.py``) turns it into v2
info pkls.

Output::

    OUT_ROOT/
    ├── synthetic_nuscenes.json   arguments and counts (generator marker)
    ├── <VERSION>/*.json          the 13 tables (category, attribute,
    │                             visibility, instance, sensor,
    │                             calibrated_sensor, ego_pose, log, scene,
    │                             sample, sample_data, sample_annotation, map)
    ├── maps/<token>.png          one small semantic-prior mask per location
    ├── samples/LIDAR_TOP/<log>__LIDAR_TOP__<timestamp>.pcd.bin
    ├── samples/CAM_*/<log>__CAM_*__<timestamp>.jpg   (--with-camera only)
    └── sweeps/LIDAR_TOP/         empty (no non-keyframe sweeps)

What is planted. ``--version v1.0-mini`` (the default): the ten scenes
of the devkit's mini split (``nuscenes.utils.splits.mini_train`` /
``mini_val``). ``--version v1.0-trainval --num-scenes T V``: the first T
scene names of the devkit's ``train`` split and the first V of ``val``,
so the converter and the detection eval put them in the same splits as
real nuScenes. Each scene is its own log, with K keyframes 0.5 s apart. The ego car drives along a gently curving
path at 3 to 8 m/s (flat ground, yaw-only poses). Each scene holds one
object of every nuScenes detection class plus random extras (real
category names that map to the ten classes, mean nuScenes sizes +-8 %,
no two objects overlapping at any keyframe). Moving objects drive along
their heading at a constant speed; their attributes follow the rule
mmdet3d's ``NuScenesMetric`` uses to predict attributes from velocity
(moving / parked / stopped, with / without rider, moving / standing; none
for cones and barriers), so a perfect prediction has zero attribute error.
Objects lie within 45 m of the ego car (cones and barriers within 26 m,
pedestrians and cycles within 36 m, inside the detection eval's class
ranges).

Each keyframe's LiDAR sweep (float32 x, y, z, intensity, ring; sensor
frame, sensor 1.84 m above the ground, rotated -90 deg about z as in
nuScenes) holds a ground plane (density falling as 1/r^2, none under the
objects nor in their shadows) and points on the faces of every box that
face the sensor (their number ~ area * cos(incidence) / r^2, points 2 cm
inside the faces; objects do not occlude each other).
``num_lidar_pts`` is the count of points inside each box (annotations
with 0 points are kept with 0, as nuScenes does; the converter flags them
invalid). The 6 camera channels have sample_data and calibrated_sensor
records (nuScenes-like extrinsics, intrinsics scaled to ``--image-size``);
with ``--with-camera`` small JPEGs render the projected boxes. All
sample_data of a channel are chained prev/next over the keyframes of a
scene, so a converter run with ``max_sweeps > 0`` uses the previous
keyframes as sweeps.

Deterministic: the same arguments write byte-identical files. The tree is
written into a temporary folder beside OUT_ROOT and renamed into place.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile
import time
from typing import Dict, List, Tuple

import numpy as np

VERSIONS = ('v1.0-mini', 'v1.0-trainval')
GENERATOR = 'mmweak.make_synthetic_nuscenes/1'
MARKER = 'synthetic_nuscenes.json'
LIDAR = 'LIDAR_TOP'
CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
           'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
#: LiDAR mount (ego frame): translation and yaw, as nuScenes' LIDAR_TOP
LIDAR_T = (0.943713, 0.0, 1.84023)
LIDAR_YAW = -np.pi / 2
#: camera mounts: translation (ego frame), optical-axis yaw (deg), focal
#: length at 1600 px width
CAMERA_MOUNTS = {
    'CAM_FRONT': ((1.70, 0.016, 1.51), 0., 1266.),
    'CAM_FRONT_RIGHT': ((1.55, -0.49, 1.50), -55., 1260.),
    'CAM_FRONT_LEFT': ((1.52, 0.49, 1.51), 55., 1257.),
    'CAM_BACK': ((0.03, 0.0, 1.58), 180., 809.),
    'CAM_BACK_LEFT': ((1.04, 0.48, 1.56), 110., 1256.),
    'CAM_BACK_RIGHT': ((1.03, -0.48, 1.57), -110., 1259.),
}
CAMERA_DT = {
    c: dt
    for c, dt in zip(CAMERAS, (12000, 19000, 4000, 37000, 29000, 45000))
}
#: detection class -> (nuScenes category, lidarseg index, mean (w, l, h),
#: moving probability, speed range m/s, max range m, extras per scene)
CLASSES = {
    'car': ('vehicle.car', 17, (1.95, 4.62, 1.73), .5, (2., 8.), 42., 5),
    'truck': ('vehicle.truck', 23, (2.52, 6.94, 2.84), .4, (2., 6.), 42., 1),
    'trailer':
    ('vehicle.trailer', 22, (2.92, 12.29, 3.87), .2, (2., 5.), 42., 0),
    'bus':
    ('vehicle.bus.rigid', 16, (2.95, 11.19, 3.49), .5, (2., 6.), 42., 0),
    'construction_vehicle':
    ('vehicle.construction', 18, (2.82, 6.56, 3.21), .2, (1., 3.), 42., 0),
    'bicycle':
    ('vehicle.bicycle', 14, (0.60, 1.70, 1.28), .5, (2., 5.), 36., 1),
    'motorcycle': ('vehicle.motorcycle', 21, (0.77, 2.11, 1.47), .5, (3., 8.),
                   36., 0),
    'pedestrian': ('human.pedestrian.adult', 2, (0.67, 0.73, 1.77), .6,
                   (0.8, 1.6), 36., 3),
    'traffic_cone': ('movable_object.trafficcone', 12, (0.41, 0.41, 1.07), 0.,
                     (0., 0.), 26., 2),
    'barrier': ('movable_object.barrier', 9, (2.53, 0.50, 0.98), 0., (0., 0.),
                26., 2),
}
ATTRIBUTES = ('vehicle.moving', 'vehicle.stopped', 'vehicle.parked',
              'cycle.with_rider', 'cycle.without_rider',
              'pedestrian.sitting_lying_down', 'pedestrian.standing',
              'pedestrian.moving')
VISIBILITIES = (('1', 'v0-40'), ('2', 'v40-60'), ('3', 'v60-80'), ('4',
                                                                   'v80-100'))
LOCATIONS = ('singapore-onenorth', 'boston-seaport', 'singapore-queenstown',
             'singapore-hollandvillage')
COLOURS = {
    'car': (200, 40, 40),
    'truck': (40, 60, 200),
    'trailer': (90, 90, 160),
    'bus': (230, 170, 20),
    'construction_vehicle': (240, 120, 10),
    'bicycle': (40, 200, 200),
    'motorcycle': (160, 40, 200),
    'pedestrian': (40, 180, 40),
    'traffic_cone': (255, 90, 0),
    'barrier': (230, 230, 230)
}
GROUND_Z = -LIDAR_T[2]  # ground height in the LiDAR frame
DENSITY = 4000.  # object points per m^2 of facing area at 1 m


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('out_root', help='dataset root to create')
    p.add_argument('--version',
                   default='v1.0-mini',
                   choices=VERSIONS,
                   help='table version and scene names (default: the '
                   'ten mini scenes)')
    p.add_argument('--num-scenes',
                   type=int,
                   nargs=2,
                   default=None,
                   metavar=('TRAIN', 'VAL'),
                   help='v1.0-trainval only: the first TRAIN scenes of the '
                   'train split and the first VAL of the val split')
    p.add_argument('--num-samples-per-scene', type=int, default=4)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--with-camera',
                   action='store_true',
                   help='also write the camera JPEGs')
    p.add_argument('--ground-points',
                   type=int,
                   default=20000,
                   help='ground points per LiDAR sweep')
    p.add_argument('--image-size',
                   type=int,
                   nargs=2,
                   default=[320, 180],
                   metavar=('W', 'H'))
    p.add_argument('--scenes',
                   nargs='+',
                   default=None,
                   metavar='NAME',
                   help='v1.0-mini only: a subset of its scene names '
                   '(default: all ten; tests use one train and one val '
                   'scene)')
    p.add_argument('--overwrite',
                   action='store_true',
                   help='replace an OUT_ROOT made by this generator with '
                   'other arguments')
    args = p.parse_args(argv)
    if args.num_samples_per_scene < 1:
        p.error('--num-samples-per-scene must be >= 1')
    if args.version == 'v1.0-trainval':
        if args.num_scenes is None or args.scenes is not None:
            p.error('--version v1.0-trainval needs --num-scenes TRAIN VAL '
                    '(and no --scenes)')
        if not (1 <= args.num_scenes[0] <= 700
                and 1 <= args.num_scenes[1] <= 150):
            p.error(f'--num-scenes {args.num_scenes}: the devkit splits '
                    'hold 700 train and 150 val scenes; give 1-700 and 1-150')
    elif args.num_scenes is not None:
        p.error('--num-scenes is for --version v1.0-trainval (v1.0-mini has '
                'its ten scenes; choose a subset with --scenes)')
    if args.scenes is not None:
        from nuscenes.utils import splits
        bad = sorted(
            set(args.scenes) - set(splits.mini_train + splits.mini_val))
        if bad:
            p.error(f'--scenes {bad}: not v1.0-mini scenes (choose from '
                    f'{sorted(splits.mini_train + splits.mini_val)})')
        args.scenes = sorted(set(args.scenes))
    return args


# ----------------------------------------------------------------- geometry
def yaw_quat(yaw: float) -> List[float]:
    """[w, x, y, z] of a rotation by ``yaw`` about +z."""
    return [float(np.cos(yaw / 2)), 0.0, 0.0, float(np.sin(yaw / 2))]


def rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.], [s, c, 0.], [0., 0., 1.]])


def mat_quat(r: np.ndarray) -> List[float]:
    """[w, x, y, z] of a rotation matrix."""
    from pyquaternion import Quaternion
    return [float(v) for v in Quaternion(matrix=r).elements]


def cam2ego_rotation(yaw_deg: float) -> np.ndarray:
    """Camera axes (x right, y down, z forward) in the ego frame."""
    t = np.deg2rad(yaw_deg)
    x_axis = [np.sin(t), -np.cos(t), 0.]  # right of the optical axis
    y_axis = [0., 0., -1.]  # down
    z_axis = [np.cos(t), np.sin(t), 0.]  # optical axis
    return np.stack([x_axis, y_axis, z_axis], 1)


def ego_state(t: float, p: Dict) -> Tuple[np.ndarray, float]:
    """Ego position (global) and heading at time ``t`` (s) of a scene."""
    h = p['h0'] + p['w'] * t
    x = p['x0'] + p['v'] / p['w'] * (np.sin(h) - np.sin(p['h0']))
    y = p['y0'] - p['v'] / p['w'] * (np.cos(h) - np.cos(p['h0']))
    return np.array([x, y, 0.]), float(h)


def box_corners(c: np.ndarray, wlh, yaw: float) -> np.ndarray:
    """(8, 3) corners of an upright box (gravity centre ``c``)."""
    w, l, h = wlh
    x = np.array([1, 1, 1, 1, -1, -1, -1, -1]) * l / 2
    y = np.array([1, -1, -1, 1, 1, -1, -1, 1]) * w / 2
    z = np.array([1, 1, -1, -1, 1, 1, -1, -1]) * h / 2
    return np.stack([x, y, z], 1) @ rot_z(yaw).T + c


def points_in_box(pts: np.ndarray, c, wlh, yaw: float) -> np.ndarray:
    """Mask of ``pts`` (N, 3) inside the upright box (boundary included)."""
    local = (pts[:, :3] - c) @ rot_z(yaw)
    w, l, h = wlh
    return ((np.abs(local[:, 0]) <= l / 2) & (np.abs(local[:, 1]) <= w / 2) &
            (np.abs(local[:, 2]) <= h / 2))


# ------------------------------------------------------------------- scenes
def _token(seed: int, *parts) -> str:
    return hashlib.md5('/'.join(map(str,
                                    (seed, ) + parts)).encode()).hexdigest()


def plan_scene(seed: int, idx: int, times: np.ndarray) -> Dict:
    """Ego path and objects of scene ``idx`` (global frame)."""
    rng = np.random.default_rng([seed, idx])
    ego = dict(x0=float(300 + 400 * idx + rng.uniform(-50, 50)),
               y0=float(800 + rng.uniform(-50, 50)),
               h0=float(rng.uniform(-np.pi, np.pi)),
               v=float(rng.uniform(3, 8)),
               w=float(rng.choice([-1, 1]) * rng.uniform(0.01, 0.05)))
    t_mid = float(times[len(times) // 2])
    ego_mid, head_mid = ego_state(t_mid, ego)
    ego_path = [ego_state(t, ego)[0] for t in times]
    names = list(CLASSES)
    for name, spec in CLASSES.items():
        names += [name] * int(rng.integers(0, spec[6] + 1))
    objects: List[Dict] = []
    for name in names:
        cat, _, mean, p_move, speeds, max_r, _ = CLASSES[name]
        for _ in range(200):
            wlh = [float(s * rng.uniform(0.92, 1.08)) for s in mean]
            r = float(rng.uniform(4.0, max_r - 0.5 * wlh[1]))
            a = float(rng.uniform(-np.pi, np.pi))
            centre = ego_mid + rot_z(head_mid) @ np.array(
                [r * np.cos(a), r * np.sin(a), 0.])
            yaw = head_mid + float(
                rng.choice([0., np.pi]) + rng.normal(0, 0.2))
            if name in ('pedestrian', 'traffic_cone'):
                yaw = float(rng.uniform(-np.pi, np.pi))
            moving = bool(rng.random() < p_move)
            speed = float(rng.uniform(*speeds)) if moving else 0.
            path = [
                centre + speed * (t - t_mid) *
                np.array([np.cos(yaw), np.sin(yaw), 0.]) for t in times
            ]
            radius = 0.5 * np.hypot(wlh[0], wlh[1]) + 0.5
            ok = all(
                np.hypot(*(q - e)[:2]) > radius +
                3.0 and np.hypot(*(q - ego_mid)[:2]) < max_r - radius + 0.5
                for q, e in zip(path, ego_path))
            ok = ok and all(
                np.hypot(*(q - o['path'][k])[:2]) > radius + o['radius']
                for o in objects for k, q in enumerate(path))
            if ok:
                objects.append(
                    dict(name=name,
                         category=cat,
                         wlh=wlh,
                         yaw=yaw,
                         speed=speed,
                         path=path,
                         radius=radius))
                break
        else:
            if len(objects) < len(CLASSES):
                raise RuntimeError(f'scene {idx}: could not place a {name}')
    return dict(ego=ego, objects=objects)


def attribute_of(name: str, speed: float) -> str:
    """The attribute mmdet3d's NuScenesMetric would predict from speed."""
    moving = speed > 0.2
    if name in ('car', 'truck', 'trailer', 'construction_vehicle'):
        return 'vehicle.moving' if moving else 'vehicle.parked'
    if name == 'bus':
        return 'vehicle.moving' if moving else 'vehicle.stopped'
    if name in ('bicycle', 'motorcycle'):
        return 'cycle.with_rider' if moving else 'cycle.without_rider'
    if name == 'pedestrian':
        return 'pedestrian.moving' if moving else 'pedestrian.standing'
    return ''


def global_to_sensor(pts: np.ndarray, ego_t, ego_yaw: float, s_t,
                     s_rot: np.ndarray) -> np.ndarray:
    """Global points -> ego -> sensor (``s_rot`` is sensor->ego)."""
    ego = (pts - ego_t) @ rot_z(ego_yaw)
    return (ego - np.asarray(s_t)) @ s_rot


def lidar_sweep(rng: np.random.Generator, boxes: List[Tuple],
                n_ground: int) -> np.ndarray:
    """(N, 5) float32 points in the LiDAR frame.

    ``boxes``: (centre, wlh, yaw) in the LiDAR frame.
    """
    # ground: r log-uniform => areal density ~ 1 / r^2
    r = 2.5 * (60. / 2.5)**rng.random(n_ground)
    a = rng.uniform(-np.pi, np.pi, n_ground)
    ground = np.stack([
        r * np.cos(a), r * np.sin(a),
        GROUND_Z + rng.normal(0, 0.015, n_ground)
    ], 1)
    keep = np.ones(n_ground, bool)
    g_az = np.arctan2(ground[:, 1], ground[:, 0])
    for c, (w, l, h), yaw in boxes:
        # the object hides the ground below it ...
        foot = (np.asarray(c) - [0, 0, 0.5 * h], (w + 0.2, l + 0.2, 1.), yaw)
        keep &= ~points_in_box(ground, *foot)
        # ... and casts a shadow: rays to the ground behind it pass through
        # it up to r = d / (1 - h / sensor height)
        corners = box_corners(np.asarray(c, float), (w, l, h), yaw)
        az_c = np.arctan2(c[1], c[0])
        rel = (np.arctan2(corners[:, 1], corners[:, 0]) - az_c +
               np.pi) % (2 * np.pi) - np.pi
        near = np.hypot(corners[:, 0], corners[:, 1]).min()
        far = near / max(1 - h / -GROUND_Z, 1e-3)
        g_rel = (g_az - az_c + np.pi) % (2 * np.pi) - np.pi
        keep &= ~((g_rel >= rel.min()) & (g_rel <= rel.max()) & (r > near) &
                  (r < far))
    parts = [
        np.concatenate(
            [ground[keep], rng.uniform(1, 15, (keep.sum(), 1))], 1)
    ]
    for c, (w, l, h), yaw in boxes:
        c = np.asarray(c, float)
        rot = rot_z(yaw)
        # (normal, half extents along u and v, u axis, v axis) per face
        faces = [((1, 0, 0), w, h, (0, 1, 0)), ((-1, 0, 0), w, h, (0, 1, 0)),
                 ((0, 1, 0), l, h, (1, 0, 0)), ((0, -1, 0), l, h, (1, 0, 0)),
                 ((0, 0, 1), l, w, (1, 0, 0))]
        half = np.array([l, w, h]) / 2
        for n, du, dv, u in faces:
            n, u = np.array(n, float), np.array(u, float)
            v = np.cross(n, u)
            centre = c + rot @ (n * half)
            dist = np.linalg.norm(centre)
            cos = float(-(rot @ n) @ centre / dist)
            if cos <= 0.05:
                continue
            k = rng.poisson(min(DENSITY * du * dv * cos / dist**2, 2000.))
            if k == 0:
                continue
            uv = rng.uniform(-0.5, 0.5, (k, 2)) * [
                max(du - 0.04, 0.), max(dv - 0.04, 0.)
            ]
            local = (n * (half - 0.02)) + uv[:, :1] * u + uv[:, 1:] * \
                np.abs(v)
            pts = local @ rot.T + c
            parts.append(np.concatenate(
                [pts, rng.uniform(20, 120, (k, 1))], 1))
    pts = np.concatenate(parts, 0)
    elev = np.degrees(np.arctan2(pts[:, 2], np.hypot(pts[:, 0], pts[:, 1])))
    ring = np.clip(np.round((elev + 30.67) / 1.33), 0, 31)
    out = np.concatenate([pts, ring[:, None]], 1).astype(np.float32)
    return np.ascontiguousarray(out)


def render_camera(size: Tuple[int, int], k: np.ndarray, boxes_cam: List):
    """A rough JPEG view: sky, road and the projected boxes (far first)."""
    from PIL import Image, ImageDraw
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    horizon = int(round(k[1, 2]))
    img[:horizon] = (150, 190, 230)
    img[horizon:] = (90, 90, 95)
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    for depth, corners, name in sorted(boxes_cam, key=lambda b: -b[0]):
        if (corners[:, 2] < 0.5).any():
            continue
        uv = corners[:, :2] / corners[:, 2:3] * [k[0, 0], k[1, 1]] + \
            [k[0, 2], k[1, 2]]
        hull = _convex_hull(uv)
        draw.polygon([tuple(p) for p in hull],
                     fill=COLOURS[name],
                     outline=(20, 20, 20))
    return pil


def _convex_hull(p: np.ndarray) -> List[Tuple[float, float]]:
    pts = sorted(map(tuple, np.round(p, 2).tolist()))

    def half(seq):
        out: List = []
        for q in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) *
                                     (q[1] - out[-2][1]) -
                                     (out[-1][1] - out[-2][1]) *
                                     (q[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(q)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return lower[:-1] + upper[:-1]


# ---------------------------------------------------------------- generation
def generate(args: argparse.Namespace, root: str) -> Dict:
    """Write the whole dataset under ``root``; return the summary."""
    from nuscenes.utils import splits
    seed, n_smp = args.seed, args.num_samples_per_scene
    img_w, img_h = args.image_size
    tok = lambda *parts: _token(seed, *parts)  # noqa: E731
    tables: Dict[str, List[Dict]] = {
        t: []
        for t in ('category', 'attribute', 'visibility', 'instance', 'sensor',
                  'calibrated_sensor', 'ego_pose', 'log', 'scene', 'sample',
                  'sample_data', 'sample_annotation', 'map')
    }
    for name, spec in CLASSES.items():
        tables['category'].append(
            dict(token=tok('category', spec[0]),
                 name=spec[0],
                 description=f'synthetic {name}',
                 index=spec[1]))
    for name in ATTRIBUTES:
        tables['attribute'].append(
            dict(token=tok('attribute', name), name=name, description=name))
    for token, level in VISIBILITIES:
        tables['visibility'].append(
            dict(token=token,
                 level=level,
                 description=f'visibility of whole object is {level[1:]} %'))
    for ch in (LIDAR, ) + CAMERAS:
        tables['sensor'].append(
            dict(token=tok('sensor', ch),
                 channel=ch,
                 modality='lidar' if ch == LIDAR else 'camera'))
    for d in ('maps', f'samples/{LIDAR}', f'sweeps/{LIDAR}', args.version):
        os.makedirs(osp.join(root, d))
    if args.with_camera:
        for ch in CAMERAS:
            os.makedirs(osp.join(root, 'samples', ch))
    cam_rot = {c: cam2ego_rotation(m[1]) for c, m in CAMERA_MOUNTS.items()}
    scale = img_w / 1600.
    intrinsics = {
        c:
        np.array([[m[2] * scale, 0., img_w / 2.],
                  [0., m[2] * scale, img_h / 2.], [0., 0., 1.]])
        for c, m in CAMERA_MOUNTS.items()
    }
    lidar_rot = rot_z(LIDAR_YAW)
    map_logs: Dict[str, List[str]] = {loc: [] for loc in LOCATIONS}
    if args.version == 'v1.0-mini':
        all_scenes = sorted(splits.mini_train + splits.mini_val)
        scene_names = args.scenes or all_scenes
        val_names = set(splits.mini_val)
    else:
        n_train, n_val = args.num_scenes
        val_names = set(splits.val[:n_val])
        all_scenes = scene_names = sorted(splits.train[:n_train] +
                                          splits.val[:n_val])
    times = np.arange(n_smp) * 0.5
    counts = dict(samples=0,
                  train=0,
                  val=0,
                  annotations=0,
                  points=0,
                  per_class={n: 0
                             for n in CLASSES})
    for scene_name in scene_names:
        si = all_scenes.index(scene_name)  # same scene whatever the subset
        plan = plan_scene(seed, si, times)
        rng = np.random.default_rng([seed, si, 1])
        location = LOCATIONS[si % len(LOCATIONS)]
        log_name = (f'n{8 + si % 2 * 7:03d}-2018-{8 + si // 28 % 5:02d}-'
                    f'{1 + si % 28:02d}-15-16-36-0400')
        log_token = tok('log', scene_name)
        map_logs[location].append(log_token)
        tables['log'].append(
            dict(token=log_token,
                 logfile=log_name,
                 vehicle=log_name[:4],
                 date_captured=log_name[5:15],
                 location=location))
        calib = {}
        for ch in (LIDAR, ) + CAMERAS:
            calib[ch] = tok('calibrated_sensor', scene_name, ch)
            if ch == LIDAR:
                rec = dict(translation=list(LIDAR_T),
                           rotation=yaw_quat(LIDAR_YAW),
                           camera_intrinsic=[])
            else:
                rec = dict(translation=list(CAMERA_MOUNTS[ch][0]),
                           rotation=mat_quat(cam_rot[ch]),
                           camera_intrinsic=intrinsics[ch].tolist())
            tables['calibrated_sensor'].append(
                dict(token=calib[ch], sensor_token=tok('sensor', ch), **rec))
        t0 = 1533151000000000 + si * 86400 * 1000000
        sample_tokens = [tok('sample', scene_name, k) for k in range(n_smp)]
        sd_tokens = {
            ch: [tok('sample_data', scene_name, ch, k) for k in range(n_smp)]
            for ch in (LIDAR, ) + CAMERAS
        }
        ann_tokens = [[
            tok('sample_annotation', scene_name, oi, k) for k in range(n_smp)
        ] for oi in range(len(plan['objects']))]
        scene_token = tok('scene', scene_name)
        for k in range(n_smp):
            ts = t0 + k * 500000
            tables['sample'].append(
                dict(token=sample_tokens[k],
                     timestamp=ts,
                     prev=sample_tokens[k - 1] if k else '',
                     next=sample_tokens[k + 1] if k + 1 < n_smp else '',
                     scene_token=scene_token))
            poses, fnames = {}, {}
            for ch in (LIDAR, ) + CAMERAS:
                ch_ts = ts + CAMERA_DT.get(ch, 0)
                pos, head = ego_state((ch_ts - t0) / 1e6, plan['ego'])
                poses[ch] = (pos, head)
                pose_token = tok('ego_pose', scene_name, ch, k)
                tables['ego_pose'].append(
                    dict(token=pose_token,
                         timestamp=ch_ts,
                         rotation=yaw_quat(head),
                         translation=[float(v) for v in pos]))
                is_cam = ch != LIDAR
                fname = (f'samples/{ch}/{log_name}__{ch}__{ch_ts}.' +
                         ('jpg' if is_cam else 'pcd.bin'))
                fnames[ch] = fname
                tables['sample_data'].append(
                    dict(token=sd_tokens[ch][k],
                         sample_token=sample_tokens[k],
                         ego_pose_token=pose_token,
                         calibrated_sensor_token=calib[ch],
                         timestamp=ch_ts,
                         fileformat='jpg' if is_cam else 'pcd',
                         is_key_frame=True,
                         height=img_h if is_cam else 0,
                         width=img_w if is_cam else 0,
                         filename=fname,
                         prev=sd_tokens[ch][k - 1] if k else '',
                         next=sd_tokens[ch][k + 1] if k + 1 < n_smp else ''))
            # boxes of this keyframe, global and in the LiDAR frame
            records, lidar_boxes = [], []
            l_pos, l_head = poses[LIDAR]
            for oi, obj in enumerate(plan['objects']):
                centre = obj['path'][k] + [0., 0., obj['wlh'][2] / 2]
                rec = dict(token=ann_tokens[oi][k],
                           sample_token=sample_tokens[k],
                           instance_token=tok('instance', scene_name, oi),
                           attribute_tokens=[],
                           translation=[float(v) for v in centre],
                           size=[round(v, 3) for v in obj['wlh']],
                           rotation=yaw_quat(obj['yaw']),
                           prev=ann_tokens[oi][k - 1] if k else '',
                           next=ann_tokens[oi][k + 1] if k + 1 < n_smp else '',
                           num_radar_pts=0)
                attr = attribute_of(obj['name'], obj['speed'])
                if attr:
                    rec['attribute_tokens'] = [tok('attribute', attr)]
                records.append(rec)
                c_l = global_to_sensor(np.asarray(rec['translation']), l_pos,
                                       l_head, LIDAR_T, lidar_rot)
                lidar_boxes.append(
                    (c_l, rec['size'], obj['yaw'] - l_head - LIDAR_YAW))
            pts = lidar_sweep(rng, lidar_boxes, args.ground_points)
            pts.tofile(osp.join(root, fnames[LIDAR]))
            counts['points'] += len(pts)
            for rec, box, obj in zip(records, lidar_boxes, plan['objects']):
                n = int(points_in_box(pts, *box).sum())
                rec['num_lidar_pts'] = n
                rec['visibility_token'] = (
                    '4' if n >= 20 else '3' if n >= 5 else '2' if n else '1')
                counts['per_class'][obj['name']] += int(n > 0)
            tables['sample_annotation'] += records
            counts['annotations'] += len(records)
            if args.with_camera:
                for ch in CAMERAS:
                    pos, head = poses[ch]
                    boxes_cam = []
                    for rec, obj in zip(records, plan['objects']):
                        corners = box_corners(np.asarray(rec['translation']),
                                              rec['size'], obj['yaw'])
                        cc = global_to_sensor(corners, pos, head,
                                              CAMERA_MOUNTS[ch][0],
                                              cam_rot[ch])
                        boxes_cam.append(
                            (float(cc[:, 2].mean()), cc, obj['name']))
                    img = render_camera((img_w, img_h), intrinsics[ch],
                                        boxes_cam)
                    img.save(osp.join(root, fnames[ch]), quality=90)
        for oi, obj in enumerate(plan['objects']):
            tables['instance'].append(
                dict(token=tok('instance', scene_name, oi),
                     category_token=tok('category', obj['category']),
                     nbr_annotations=n_smp,
                     first_annotation_token=ann_tokens[oi][0],
                     last_annotation_token=ann_tokens[oi][-1]))
        tables['scene'].append(
            dict(token=scene_token,
                 log_token=log_token,
                 nbr_samples=n_smp,
                 first_sample_token=sample_tokens[0],
                 last_sample_token=sample_tokens[-1],
                 name=scene_name,
                 description=f'synthetic scene, {len(plan["objects"])} objects'
                 ))
        counts['samples'] += n_smp
        counts['val' if scene_name in val_names else 'train'] += n_smp
    from PIL import Image
    for location in LOCATIONS:
        if not map_logs[location]:
            continue
        token = tok('map', location)
        fname = f'maps/{token}.png'
        mask = np.zeros((64, 64), np.uint8)
        mask[16:48] = 255
        Image.fromarray(mask).save(osp.join(root, fname))
        tables['map'].append(
            dict(category='semantic_prior',
                 token=token,
                 filename=fname,
                 log_tokens=map_logs[location]))
    for name, rows in tables.items():
        with open(osp.join(root, args.version, f'{name}.json'), 'w') as f:
            json.dump(rows, f, indent=0)
    return counts


def _marker_args(args: argparse.Namespace) -> Dict:
    return {
        k: v
        for k, v in vars(args).items() if k not in ('out_root', 'overwrite')
    }


def main(argv=None) -> Dict:
    args = parse_args(argv)
    out_root = osp.abspath(args.out_root)
    wanted = dict(generator=GENERATOR, args=_marker_args(args))
    marker = osp.join(out_root, MARKER)
    if osp.exists(out_root):
        old = None
        if osp.isfile(marker):
            with open(marker) as f:
                old = json.load(f)
        if old is None:
            raise SystemExit(
                f'{out_root} exists and was not written by '
                'make_synthetic_nuscenes.py (no synthetic_nuscenes.json): '
                'choose another OUT_ROOT or remove it')
        same = {k: old.get(k) for k in wanted} == wanted
        if same:
            print(f'{out_root}: already generated with these arguments')
            return old
        if not args.overwrite:
            raise SystemExit(
                f'{out_root} holds a synthetic nuScenes set made with other '
                f'arguments ({old.get("args")}); pass --overwrite to replace '
                'it')
    parent = osp.dirname(out_root)
    os.makedirs(parent, exist_ok=True)
    start = time.time()
    tmp = tempfile.mkdtemp(prefix=f'.{osp.basename(out_root)}.tmp.',
                           dir=parent)
    try:
        counts = generate(args, tmp)
        summary = dict(wanted, **counts)
        with open(osp.join(tmp, MARKER), 'w') as f:
            json.dump(summary, f, indent=1, sort_keys=True)
        os.chmod(tmp, 0o755)
        if osp.exists(out_root):  # --overwrite of an earlier generation
            old_dir = tmp + '.old'
            os.rename(out_root, old_dir)
            os.rename(tmp, out_root)
            shutil.rmtree(old_dir)
        else:
            os.rename(tmp, out_root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'synthetic nuScenes ({args.version}) at {out_root} in '
          f'{time.time() - start:.1f} s: {counts["samples"]} samples '
          f'(train {counts["train"]}, val {counts["val"]}), '
          f'{counts["annotations"]} annotations, '
          f'{counts["points"] / max(counts["samples"], 1):.0f} points per '
          f'sweep; annotations with points per class: '
          f'{json.dumps(counts["per_class"])}')
    return summary


if __name__ == '__main__':
    main()
