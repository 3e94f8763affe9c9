# Copyright (c) mmweak contributors.
from .mars_encoder_decoder import (MARSEncoderDecoder, complement_labels,
                                   fill_branches)

__all__ = ['MARSEncoderDecoder', 'complement_labels', 'fill_branches']
