# Copyright (c) mmweak contributors.
"""Label-map conventions shared by every segmentation task in mmweak.

A label map is a single-channel ``uint8`` image (palette PNGs allowed) with
values ``0..C``: 0 is background, ``1..C`` the object classes. Two values
are reserved and are never class ids:

- ``IGNORE_INDEX = 255``: void / boundary; ignored by losses and metrics.
- ``UNCERTAIN_INDEX = 254``: "biased or uncertain" (MARS's -1); ignored by
  losses, counted as *no prediction* (a false negative) when a label map
  with it is scored as a prediction.
"""
import numpy as np

IGNORE_INDEX = 255
UNCERTAIN_INDEX = 254
RESERVED_INDICES = (UNCERTAIN_INDEX, IGNORE_INDEX)


def check_label_values(label: np.ndarray, num_classes: int,
                       source: str = 'label map') -> None:
    """Raise ``ValueError`` naming ``source`` when ``label`` holds a value
    outside ``0..num_classes-1``, 254 and 255.

    Args:
        label: Integer label map.
        num_classes: Number of classes including background (21 for VOC).
        source: File name (or key) used in the error message.
    """
    values = np.unique(np.asarray(label))
    bad = values[(values >= num_classes) & ~np.isin(values, RESERVED_INDICES)]
    if bad.size:
        raise ValueError(
            f'{source}: label values {bad.tolist()} are outside 0..'
            f'{num_classes - 1} and the reserved {UNCERTAIN_INDEX} '
            f'(uncertain) / {IGNORE_INDEX} (ignore)')
