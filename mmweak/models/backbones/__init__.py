# Copyright (c) mmweak contributors.
from .sat_vit import SATVisionTransformer
from .bas_backbones import (BASBackboneMixin, BASInceptionV3,
                            BASMobileNetV1, BASResNet, BASVGG)
from .mobilenet_v1 import MobileNetV1

__all__ = [
    'BASBackboneMixin', 'BASInceptionV3', 'BASMobileNetV1', 'BASResNet',
    'BASVGG', 'MobileNetV1', 'SATVisionTransformer'
]
