#!/usr/bin/env bash
# Installs the Debian packages the tests (and, with --bench, the benchmark) use, if missing.
# Quiet when there is nothing to do.
set -euo pipefail
# docker-registry, apache2-utils (htpasswd) and openssl: the registry tests and the pull/push bench
# uidmap (newuidmap): rootless buildah in the mount-program tests
pkgs=(attr jq zstd fuse3 uidmap python3 tar skopeo umoci btrfs-progs runc buildah git docker-registry apache2-utils openssl)
[ "${1:-}" = "--bench" ] && pkgs+=(fuse-overlayfs fio unionfs-fuse)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing packages: ${missing[*]} (run as root, or apt-get install them)" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
