#!/usr/bin/env bash
# Makes sure the system libraries the Rust build links against are present:
#   pkg-config, OpenSSL (libssl-dev), libpq (libpq-dev), SQLite (libsqlite3-dev).
# Silent and exit 0 when everything is there. When something is missing and we
# are root on a Debian-like system, installs it with apt-get; otherwise prints
# the packages to install and exits 1.
set -euo pipefail

PACKAGES=(pkg-config libssl-dev libpq-dev libsqlite3-dev)

# Prints the Debian packages that are missing (space separated, maybe empty).
missing_packages() {
    if ! command -v pkg-config >/dev/null 2>&1; then
        # Without pkg-config the libraries cannot be checked: ask for all.
        echo "${PACKAGES[*]}"
        return
    fi
    local absent=()
    pkg-config --exists openssl || absent+=(libssl-dev)
    pkg-config --exists libpq || absent+=(libpq-dev)
    pkg-config --exists sqlite3 || absent+=(libsqlite3-dev)
    echo "${absent[*]}"
}

missing="$(missing_packages)"
[[ -z "$missing" ]] && exit 0

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "deps.sh: installing build dependencies: ${PACKAGES[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
    missing="$(missing_packages)"
    [[ -z "$missing" ]] && exit 0
fi

echo "deps.sh: missing build dependencies; install them with: sudo apt-get install $missing" >&2
exit 1
