# prismrec: `make demo` runs the main job on the bundled data; `make test` runs the tests.
# Both create .venv when missing and install what they need (CPU torch==2.13.0 pinned in the same
# pip call, so no dependency pulls a CUDA build).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
OUT    ?= demo-out
PORT   ?= 8000
DEMO_EPOCHS ?= 5

.PHONY: demo test test-fast lint docs docs-serve bench-data clean install serve serve-bg stop

$(BIN)/prismrec: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH) -e ".[dev,spark,tune]"
	touch $(BIN)/prismrec

install: $(BIN)/prismrec

demo: $(BIN)/prismrec
	$(BIN)/prismrec data check bundled:ml-latest-small
	$(BIN)/prismrec data prepare bundled:ml-latest-small --out $(OUT)/data
	$(BIN)/prismrec content encode --data $(OUT)/data
	$(BIN)/prismrec content similar --data $(OUT)/data --item 1 -k 5
	$(BIN)/prismrec train --data $(OUT)/data --model-type pop --out $(OUT)/pop
	$(BIN)/prismrec train --data $(OUT)/data --model-type itemknn --out $(OUT)/itemknn
	$(BIN)/prismrec evaluate --model $(OUT)/pop --data $(OUT)/data --split test --report $(OUT)/report-pop
	$(BIN)/prismrec evaluate --model $(OUT)/itemknn --data $(OUT)/data --split test --report $(OUT)/report --baseline $(OUT)/report-pop
	$(BIN)/prismrec compare $(OUT)/report-pop $(OUT)/report --metric ndcg@10 --metric ild@10 --metric novelty@10
	$(BIN)/prismrec recommend --model $(OUT)/itemknn --data $(OUT)/data --split test -k 10 --out $(OUT)/recommendations.jsonl
	$(BIN)/prismrec train --data $(OUT)/data --model-type prism --epochs $(DEMO_EPOCHS) --out $(OUT)/prism
	$(BIN)/prismrec evaluate --model $(OUT)/prism --data $(OUT)/data --split test --report $(OUT)/prism/report
	@echo "demo done: report in $(OUT)/report/report.html (metrics.json, per_user.npz, run.json), top-10 lists in $(OUT)/recommendations.jsonl"
	@scripts/serve-demo.sh $(BIN) $(OUT) $(PORT)

$(OUT)/prism/model.json: | $(BIN)/prismrec
	test -d $(OUT)/data || $(BIN)/prismrec data prepare bundled:ml-latest-small --out $(OUT)/data
	$(BIN)/prismrec content encode --data $(OUT)/data
	$(BIN)/prismrec train --data $(OUT)/data --model-type prism --epochs $(DEMO_EPOCHS) --out $(OUT)/prism

# the API and the web page (/ui) in the foreground on the demo model (trained first when missing)
serve: $(OUT)/prism/model.json
	$(BIN)/prismrec keys create --role write --store sqlite:$(OUT)/state.db > $(OUT)/api-key.txt
	@echo "write key in $(OUT)/api-key.txt; web page: http://127.0.0.1:$(PORT)/ui/"
	$(BIN)/prismrec serve --model $(OUT)/prism --store sqlite:$(OUT)/state.db --port $(PORT)

serve-bg: $(OUT)/prism/model.json
	@scripts/serve-demo.sh $(BIN) $(OUT) $(PORT)

stop:
	@if [ -f $(OUT)/serve.pid ]; then kill $$(cat $(OUT)/serve.pid) 2>/dev/null || true; rm -f $(OUT)/serve.pid; echo stopped; fi

test: $(BIN)/prismrec
	@bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q

# no shared datasets, no redis-server, no extra processes: what a new contributor runs first
test-fast: $(BIN)/prismrec
	$(BIN)/python -m pytest -q -m "not integration and not slow"

# the documentation site in site/
$(BIN)/mkdocs: pyproject.toml | $(BIN)/prismrec
	$(BIN)/python -m pip install --quiet $(TORCH) -e ".[dev,docs]"
	touch $(BIN)/mkdocs

# (the reference pages are generated from the code during the build: scripts/mkdocs_hooks.py)
docs: $(BIN)/mkdocs
	PYTHONPATH=src $(BIN)/mkdocs build --strict

docs-serve: $(BIN)/mkdocs
	PYTHONPATH=src $(BIN)/mkdocs serve

lint: $(BIN)/prismrec
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/lint-imports
	$(BIN)/mypy

bench-data: $(BIN)/prismrec
	$(BIN)/python benchmarks/data_prepare.py

clean: stop
	rm -rf $(OUT) .pytest_cache site
