#!/usr/bin/env bash
# Create or refresh mmweak's pinned virtual environment, then print its path.
#
#   tools/setup_env.sh            # set up (fast when nothing changed)
#   tools/setup_env.sh --freeze   # rewrite requirements/lock.txt from the venv
#
# The venv lives outside the checkout, keyed by the hash of the lock file,
# so every clone on this machine with the same lock shares it:
#   ${MMWEAK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mmweak/venv-<hash>}
# and ./.venv is a symlink to it. mmcv 2.1.0 is installed from a cached wheel
# built with its ops; when no cached wheel exists it is built from the PyPI
# source archive (about 20 minutes on 2 cores) and cached.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/requirements/lock.txt"
NODEPS="$ROOT/requirements/nodeps.txt"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/mmweak"
MMCV_VERSION=2.1.0
MMCV_SHA256_SHARED=f8b91fb9d4b976df2607b390caa663f34f9693d679566c77bcc0d0ff594e170c

log() { echo "[setup_env] $*" >&2; }
# pip, minus the notes about this machine's local package mirrors
pip_quiet() {
    local rc=0
    mkdir -p "$CACHE"
    "${PIP[@]}" "$@" > "$CACHE/pip.log" 2>&1 || rc=$?
    grep -v "^WARNING: Location '" "$CACHE/pip.log" >&2 || true
    return "$rc"
}

pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$pyver" != "3.11" ]; then
    log "Python 3.11 is required (found $PYTHON = $pyver); set PYTHON=/path/to/python3.11"
    exit 1
fi

# Bump ENV_REVISION when the install steps below change what ends up in the
# venv; the venv is rebuilt whenever the lock or this revision changes.
ENV_REVISION=1
HASH="$( (cat "$LOCK" "$NODEPS"; echo "rev=$ENV_REVISION mmcv=$MMCV_VERSION") | sha256sum | cut -c1-12)"
VENV="${MMWEAK_VENV:-$CACHE/venv-$HASH}"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

if [ "${1:-}" = "--freeze" ]; then
    { sed -n '1,4p' "$LOCK"; "${PIP[@]}" freeze --all \
        | grep -vE '^(mmcv|mmweak|-e |pip==)' \
        | grep -viE "^($(grep -oE '^[A-Za-z0-9_.-]+' "$NODEPS" | sed 's/[-_]/[-_]/g' | paste -sd'|'))==" ; } > "$LOCK.tmp"
    mv "$LOCK.tmp" "$LOCK"
    log "wrote $LOCK"
    exit 0
fi

mmcv_wheel() {
    # Echo the path of a usable mmcv wheel, building it if needed.
    local wheel_dir="$CACHE/wheels" name="mmcv-$MMCV_VERSION-cp311-cp311-linux_x86_64.whl"
    mkdir -p "$wheel_dir"
    if [ -f "$wheel_dir/$name" ]; then echo "$wheel_dir/$name"; return; fi
    local shared="$ROOT/../shared/wheels/$name"
    if [ -f "$shared" ] && echo "$MMCV_SHA256_SHARED  $shared" | sha256sum -c --status; then
        cp "$shared" "$wheel_dir/$name.tmp" && mv "$wheel_dir/$name.tmp" "$wheel_dir/$name"
        log "using the cached mmcv wheel from $shared"
        echo "$wheel_dir/$name"; return
    fi
    log "building mmcv $MMCV_VERSION with ops from source (about 20 minutes on 2 cores)"
    local build; build="$(mktemp -d)"
    pip_quiet download --no-deps --no-binary :all: -d "$build" "mmcv==$MMCV_VERSION"
    tar -xzf "$build"/mmcv-$MMCV_VERSION.tar.gz -C "$build"
    # torch >= 2.6 headers need C++20; mmcv 2.1.0's setup.py asks for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$build/mmcv-$MMCV_VERSION/setup.py"
    (cd "$build/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)" \
        "${PIP[@]}" wheel --no-deps --no-build-isolation -w "$build/dist" . >&2)
    cp "$build"/dist/mmcv-*.whl "$wheel_dir/$name.tmp" && mv "$wheel_dir/$name.tmp" "$wheel_dir/$name"
    rm -rf "$build"
    echo "$wheel_dir/$name"
}

STAMP="$VENV/.mmweak-lock-installed"
if [ ! -f "$STAMP" ]; then
    log "creating $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    pip_quiet install -q "pip==24.3.1"
    pip_quiet install -q $(grep -E '^(setuptools|wheel|ninja)==' "$LOCK")
    pip_quiet install -q $(grep -E '^(torch|torchvision)==' "$LOCK")
    MMCV_WHEEL="$(mmcv_wheel)"
    pip_quiet install -q --no-deps "$MMCV_WHEEL"
    # The lock also pins source-only archives (pydensecrf2: pip builds it in
    # an isolated environment with the Cython its pyproject.toml names).
    pip_quiet install -q -r "$LOCK"
    pip_quiet install -q --no-deps -r "$NODEPS"
    pip_quiet check || log "pip check reported the conflicts above (known: torch declares setuptools>=77)"
    touch "$STAMP"
fi

# Editable ("develop") install of this checkout: mmweak.egg-info in the
# checkout plus a .pth entry, so that the distribution's location is the
# checkout and `mim train/test mmweak` find mmweak/.mim/{tools,configs}
# (a PEP 660 editable wheel would report site-packages instead). Redone when
# the venv served another clone.
SRC_STAMP="$VENV/.mmweak-src"
if [ "$(cat "$SRC_STAMP" 2>/dev/null)" != "$ROOT" ] || [ ! -d "$ROOT/mmweak.egg-info" ]; then
    "${PIP[@]}" uninstall -y -q mmweak >/dev/null 2>&1 || true
    SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    (cd "$ROOT" && "$VENV/bin/python" setup.py -q egg_info >/dev/null 2>&1) \
        || { log "could not write mmweak.egg-info in $ROOT"; exit 1; }
    echo "$ROOT" > "$SITE/mmweak-develop.pth"
    echo "$ROOT" > "$SRC_STAMP"
fi
"$VENV/bin/python" -c 'import mmcv.ops, mmweak' \
    || { log "the environment at $VENV is broken; delete it and rerun"; exit 1; }
ln -sfn "$VENV" "$ROOT/.venv"
echo "$VENV"
