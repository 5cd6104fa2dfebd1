# The two commands the README promises: `make demo` and `make test`.
.PHONY: setup demo test lint bench bench-postgres bench-peers bench-node

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/podscribe transcribe podscribe/samples/episode.ogg --config podscribe/samples/episode.toml --out out/episode

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src podscribe/src tests podscribe/tests bench
	.venv/bin/mypy

bench: setup
	.venv/bin/python bench/steps.py
	.venv/bin/python bench/resume.py
	.venv/bin/python bench/console.py

# Fleets on PostgreSQL (needs the server `make test` starts): throughput for 1, 2 and 4
# workers against SQLite, and callback-to-resume latency across processes.
bench-postgres: setup
	.venv/bin/python bench/throughput.py
	.venv/bin/python bench/resume_pg.py

# perdure against AWS's local runner and DBOS, side by side (installs the `bench` extra).
bench-peers: setup
	.venv/bin/python -m pip install -q -e ".[bench,postgres]"
	.venv/bin/python bench/peers.py --postgres

# TypeScript functions on perdure serve: 100 steps against AWS's JavaScript local runner,
# cold starts, memory of the Node processes, throughput next to Python (needs npm ci).
bench-node: setup
	.venv/bin/python bench/node.py
