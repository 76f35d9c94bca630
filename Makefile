# The two commands a newcomer needs: `make demo` and `make test`.
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: setup setup-data demo lint test test-fast bench bench-range bench-scale soak sample-media train clean

setup:
	@bash scripts/setup.sh

setup-data:
	@XMODAL_SETUP_DATA=1 bash scripts/setup.sh

demo: setup
	$(PY) -m xmodal.demo

# Gates that keep the architecture honest (docs/ARCHITECTURE.md): style, layer contracts, and a
# ratchet on imports of xmodal modules hidden inside functions (they hide the dependency graph).
lint: setup
	.venv/bin/ruff check xmodal tests benchmarks scripts
	.venv/bin/lint-imports
	.venv/bin/mypy
	$(PY) scripts/count_local_imports.py --max $(LOCAL_IMPORTS_MAX)

LOCAL_IMPORTS_MAX := 13

test: setup lint
	$(PY) -m pytest -q -n 2 --dist loadfile tests

bench: setup-data
	@bash scripts/setup_bench.sh
	$(PY) -m benchmarks.run

# Range / threshold search and filtered k-NN: the planner's path against exact=True, per index kind.
bench-range:
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(PY) -m benchmarks.bench_range --n 50000

# Scale on one machine (issue 16): every kind at 200k then 1M x 384 against raw FAISS, one thread;
# then the tables for BENCHMARKS.md and benchmarks/results/scale.png. hnsw at 1M goes last (slowest build).
bench-scale:
	nice -n 10 $(PY) -m benchmarks.bench_scale --n 200000
	nice -n 10 $(PY) -m benchmarks.bench_scale --n 1000000 --kinds flat,ivf_flat,sq8,ivf_pq,opq,hnsw --timeout 5400
	$(PY) -m benchmarks.scale_report

soak: setup
	rm -f test-artifacts/soak.jsonl
	$(PY) -m pytest -q -m slow tests/reliability
	$(PY) scripts/reliability_report.py

# Rebuild the shipped projection weights (xmodal/encoders/weights) and the model card's numbers.
train: setup
	@bash scripts/fetch_datasets.sh
	$(PY) -m xmodal.cli train --recipe xmodal-lite
	# The multilingual heads: v1's (hours of E5 over 78 languages: `xmodal train --recipe
	# xmodal-lite-multilingual --weights ...-v1.npz`) re-based on the photo vocabulary, residual bounded.
	$(PY) -m xmodal.train.rebound xmodal/encoders/weights/xmodal-lite-multilingual-v1.npz \
	  xmodal/encoders/weights/xmodal-lite-multilingual.npz --max-residual 0.1
	$(PY) -m xmodal.cli eval --set photos-val,tuxpaint-test --languages en,zh-CN --no-speech --out data/runs/eval \
	  --models random,label-bridge,photo-bridge,xmodal-lite-v1,xmodal-lite,label-bridge-multilingual,xmodal-lite-multilingual
	# The sound heads (Tux Paint's sound effects) and their relevance mapping, then their held-out numbers.
	$(PY) -m xmodal.train.sound --model xmodal-lite
	$(PY) -m xmodal.train.sound --model xmodal-lite-multilingual
	$(PY) -m xmodal.ingest.calibrate --model xmodal-lite --fields sound
	$(PY) -m xmodal.ingest.calibrate --model xmodal-lite-multilingual --fields sound
	$(PY) -m xmodal.cli eval --set tuxpaint-sounds --models xmodal-lite,xmodal-lite-multilingual

clean:
	rm -rf .venv .stamps .pytest_cache .hypothesis
