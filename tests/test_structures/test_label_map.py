# Copyright (c) mmweak contributors.
import numpy as np
import pytest

from mmweak.structures import (IGNORE_INDEX, UNCERTAIN_INDEX,
                               check_label_values)


def test_reserved_values_pass_and_others_fail_naming_the_source():
    ok = np.array([[0, 20, UNCERTAIN_INDEX, IGNORE_INDEX]], np.uint8)
    check_label_values(ok, 21, 'a.png')
    with pytest.raises(ValueError, match=r'b\.png.*\[21, 100\]'):
        check_label_values(np.array([[21, 100, 0]], np.uint8), 21, 'b.png')
