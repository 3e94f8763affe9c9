# Copyright (c) mmweak contributors.
