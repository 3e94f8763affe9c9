# Copyright (c) mmweak contributors.
import os

import cv2
import numpy as np
import pytest

from mmweak.wsss.data_io import (check_cams_exist, load_rgb,
                                 resolve_data_root, split_list_path)


def test_data_root_and_split_lists_resolve_in_voc_and_coco_layouts(tmp_path):
    voc = tmp_path / 'VOCdevkit' / 'VOC2012'
    (voc / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (voc / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('a\n')
    assert resolve_data_root(str(tmp_path)) == str(voc)
    assert resolve_data_root(str(voc)) == str(voc)
    assert split_list_path(str(voc), 'train').endswith(
        os.path.join('Segmentation', 'train.txt'))
    (voc / 'ImageSets' / 'train2014.txt').write_text('b\n')
    assert split_list_path(str(voc), 'train2014').endswith(
        os.path.join('ImageSets', 'train2014.txt'))
    with pytest.raises(FileNotFoundError, match='nowhere'):
        resolve_data_root(str(tmp_path / 'nowhere'))


def test_images_and_cam_packs_fail_naming_the_file(tmp_path):
    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 2] = 255  # red in BGR
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    assert load_rgb(str(tmp_path / 'a.png'))[0, 0].tolist() == [255, 0, 0]
    (tmp_path / 'bad.jpg').write_bytes(b'not an image')
    with pytest.raises(ValueError, match='bad.jpg'):
        load_rgb(str(tmp_path / 'bad.jpg'))
    (tmp_path / 'x.npy').write_bytes(b'')
    check_cams_exist(['x'], str(tmp_path), 'list.txt')
    with pytest.raises(FileNotFoundError, match=r'y\.npy.*list\.txt'):
        check_cams_exist(['x', 'y'], str(tmp_path), 'list.txt')
