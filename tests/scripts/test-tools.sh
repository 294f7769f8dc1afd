#!/usr/bin/env bash
# Installs the tools some tests drive besides PostgreSQL and Redis (which
# with-services.sh provides): nginx, the reverse proxy of the replicas test
# (tests/all/replicas.rs). As root on Debian it installs what is missing
# with apt-get, without starting the system service; otherwise it says what
# to install and exits 1.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi
if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test-tools.sh: installing ${missing[*]}" >&2
    # Keep the package's init script from starting a system nginx on port 80.
    policy=/usr/sbin/policy-rc.d
    created=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        created=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    if [[ $created -eq 1 ]]; then rm -f "$policy"; fi
    exit 0
fi
echo "test-tools.sh: missing ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
exit 1
