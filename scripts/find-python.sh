#!/usr/bin/env bash
# Print a Python >= 3.12 (3.12 preferred: the Docker image runs it): PATH first, then pyenv. Exit 1 with a clear message if none.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for name in python3.12 python3.13 python3 python; do
  if p=$(command -v "$name" 2>/dev/null) && ok "$p"; then echo "$p"; exit 0; fi
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in $(ls -d "$root"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V); do
  if ok "$p"; then echo "$p"; exit 0; fi
done
echo "GarminSync needs Python 3.12 or newer (garminconnect 0.3 requires it), and none was found" >&2
echo "on PATH or in pyenv. Install one (e.g. 'pyenv install 3.12'), or run: make PYTHON=/path/to/python3.12" >&2
exit 1
