.PHONY: run test lint bench
run:   ## the gateway with demo data on the embedded defaults
	python3 dev.py run
test:  ## the whole test suite
	python3 dev.py test
lint:
	.venv/bin/ruff check . && .venv/bin/mypy
