# The two commands a newcomer needs (each sets up the pinned environment
# first and is fast when nothing changed):
#   make demo   - train and test every WSOL method on the embedded synthetic
#                 data, run the WSSS pipeline on the embedded VOC-layout set,
#                 train and test DTMR grounding on the embedded RefCOCO-format
#                 set, run Point-DETR3D (teacher, pseudo labels, students)
#                 on the embedded nuScenes-layout set, and print the
#                 results tables
#   make test   - run the test suite
SHELL := /bin/bash
# make demo TASKS=wsol (or TASKS=wsss, TASKS=dtmr, TASKS=det3d) runs one
# task alone
TASKS ?= wsol wsss dtmr det3d
# make test runs the suite on TEST_WORKERS pytest-xdist processes (one per
# core of the 2-core reference machine; TEST_WORKERS=0 runs it in-process)
TEST_WORKERS ?= 2
.PHONY: env demo test bench lint

env:
	@tools/setup_env.sh >/dev/null

demo: env
	.venv/bin/python tools/run_demo.py --tasks $(TASKS) $(DEMO_ARGS)

test: env
	.venv/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(TEST_ARGS)

bench: env
	@for f in tools/benchmarks/bench_*.py; do echo "== $$f"; .venv/bin/python $$f; done
