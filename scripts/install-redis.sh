#!/usr/bin/env bash
# Installs Debian's redis-server where it is missing: the cluster tests
# (tests/test_cluster*.py) start their own redis-server on a free port and
# stop it by PID. Does nothing when redis-server is already on the PATH.
set -euo pipefail

if command -v redis-server >/dev/null; then
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-redis: no apt-get here; install redis-server yourself" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "install-redis: installing redis-server (Debian package)" >&2
if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; then
    $sudo apt-get update -q >/dev/null
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null
fi
