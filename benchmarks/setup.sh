#!/usr/bin/env bash
# Install what benchmarks/ needs on a bare Debian machine (run as root). Idempotent: it skips
# what is already there, so running it twice is cheap.
#   - fuse3 (fusermount3) + libfuse3 runtime: the slow FUSE filesystem (benchmarks/slowfs.py)
#   - wrk: the HTTP load generator
#   - mfusepy (ctypes bindings for libfuse3), matplotlib (plots)
#   - the project itself with its test extras (uvicorn[standard] brings uvloop + httptools)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v fusermount3 >/dev/null 2>&1 || need_apt+=(fuse3)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v strace >/dev/null 2>&1 || need_apt+=(strace)   # prove_zero_copy.py
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)     # the reference server in large_files.py
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)  # wsgi_instructions.py
command -v h2load >/dev/null 2>&1 || need_apt+=(nghttp2-client)  # http2.py
# The runtime library: Debian 12 calls it libfuse3-3, Debian 13 libfuse3-4.
if ! ldconfig -p 2>/dev/null | grep -q 'libfuse3\.so'; then
    need_apt+=(libfuse3)
fi
if ((${#need_apt[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    pkgs=()
    for p in "${need_apt[@]}"; do
        if [[ $p == libfuse3 ]]; then
            # Whichever runtime package this release has.
            lib=$(apt-cache --names-only search '^libfuse3-[0-9]+$' | awk '{print $1}' | sort | tail -n1)
            [[ -n $lib ]] && pkgs+=("$lib")
        else
            pkgs+=("$p")
        fi
    done
    apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

python -m pip install -q mfusepy matplotlib
python -m pip install -q -e '.[test]'

# Sanity: everything the runner uses is importable / on PATH.
python - <<'PY'
import mfusepy, matplotlib, uvicorn, uvloop, httptools, starlette  # noqa: F401
print("python deps ok: mfusepy", getattr(mfusepy, "__version__", "?"), "uvicorn", uvicorn.__version__)
PY
command -v wrk fusermount3
[[ -e /dev/fuse ]] || echo "warning: /dev/fuse is missing; slowfs cannot mount" >&2
echo "benchmarks/setup.sh: done"
