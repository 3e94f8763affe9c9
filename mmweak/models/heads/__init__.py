# Copyright (c) mmweak contributors.
from .base_wsol_head import BaseWSOLHead
from .cam_head import CAMHead
from .conv_cam_head import ConvCAMHead
from .sat_head import SATHead
from .bas_head import BASGenerator, BASHead
from .multilabel_cam_head import MultiLabelCAMHead
from .deeplabv2_head import DeepLabV2Head
from .bas_wsss_head import BASWSSSHead
from .triad_head import FactorisedScorer, TriadHead

__all__ = [
    'BASGenerator', 'BASHead', 'SATHead', 'ConvCAMHead', 'BaseWSOLHead',
    'CAMHead', 'MultiLabelCAMHead', 'DeepLabV2Head', 'BASWSSSHead',
    'TriadHead', 'FactorisedScorer'
]
