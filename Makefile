# The two commands the README promises: `make demo` and `make test`.
.PHONY: setup demo test lint bench

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/podscribe transcribe podscribe/samples/episode.ogg --out out/episode

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src podscribe/src tests podscribe/tests bench
	.venv/bin/mypy

bench: setup
	.venv/bin/python bench/steps.py
	.venv/bin/python bench/resume.py
