# The two commands a newcomer needs: `make demo` and `make test`.
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup setup-data demo test test-fast bench bench-range soak sample-media train clean

setup:
	@bash scripts/setup.sh

setup-data:
	@XMODAL_SETUP_DATA=1 bash scripts/setup.sh

demo: setup
	$(PY) -m xmodal.demo

test: setup
	$(PY) -m pytest -q tests

bench: setup-data
	@bash scripts/setup_bench.sh
	$(PY) -m benchmarks.run

# Range / threshold search and filtered k-NN: the planner's path against exact=True, per index kind.
bench-range:
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m benchmarks.bench_range --n 50000

soak: setup
	rm -f test-artifacts/soak.jsonl
	$(PY) -m pytest -q -m slow tests/reliability
	$(PY) scripts/reliability_report.py

# Rebuild the shipped projection weights (xmodal/encoders/weights) and the model card's numbers.
train: setup
	@bash scripts/fetch_datasets.sh
	$(PY) -m xmodal.cli train --recipe xmodal-lite
	$(PY) -m xmodal.cli train --recipe xmodal-lite-multilingual
	$(PY) -m xmodal.cli eval --set tuxpaint-test --languages en,zh-CN --out data/runs/eval \
	  --models random,label-bridge,label-bridge-multilingual,xmodal-lite,xmodal-lite-multilingual

clean:
	rm -rf .venv .stamps .pytest_cache .hypothesis
