# Copyright (c) mmweak contributors.
import os.path as osp
import subprocess
from collections import OrderedDict

import pytest
import torch

from mmweak.models.backbones import BASMobileNetV1, MobileNetV1


def _reference_style_checkpoint():
    """A MobileNetV1 state dict as the PyTorch ports save it:
    ``module.model.<i>.<j>.*`` then a 1000-way ``fc``."""
    torch.manual_seed(0)
    model = MobileNetV1(widen_factor=0.25)
    for p in model.parameters():
        p.data.uniform_()
    sd = OrderedDict(('module.model.' + k[len('layers.'):], v)
                     for k, v in model.state_dict().items())
    sd['module.fc.weight'] = torch.rand(1000, 256)
    sd['module.fc.bias'] = torch.rand(1000)
    return model, sd


def test_converted_checkpoint_loads_into_the_bas_backbone(
        tmp_path, repo_root, tool_env, python):
    model, sd = _reference_style_checkpoint()
    src, dst = osp.join(tmp_path, 'src.pth'), osp.join(tmp_path, 'dst.pth')
    torch.save({'state_dict': sd}, src)
    subprocess.run([
        python, 'tools/model_converters/mobilenet_v1_to_mmweak.py', src, dst,
        '--widen-factor', '0.25'
    ], cwd=repo_root, env=tool_env, check=True, capture_output=True)
    converted = torch.load(dst, weights_only=True)
    bas = BASMobileNetV1(widen_factor=0.25)
    missing, unexpected = bas.load_state_dict(converted, strict=False)
    assert unexpected == []
    assert all(k.endswith('num_batches_tracked') for k in missing)
    for key, value in model.state_dict().items():
        if not key.endswith('num_batches_tracked'):
            torch.testing.assert_close(bas.state_dict()[key], value)


def test_shape_mismatch_is_reported(repo_root):
    import sys
    sys.path.insert(0, osp.join(repo_root, 'tools', 'model_converters'))
    from mobilenet_v1_to_mmweak import convert
    _, sd = _reference_style_checkpoint()
    with pytest.raises(ValueError, match='shape mismatch'):
        convert(sd, widen_factor=1.0)
