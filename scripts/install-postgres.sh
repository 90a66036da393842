#!/usr/bin/env bash
# Installs Debian's PostgreSQL 15 server binaries for the tests, unless initdb is already there.
# The tests start their own server in a temporary folder (tests/postgres.py), so no cluster is
# created or started here: createcluster.conf says so before the package is installed.
# Runs apt-get as root, or through sudo when not root.
set -euo pipefail

INITDB=/usr/lib/postgresql/15/bin/initdb

if [[ -x "$INITDB" ]]; then
    echo "install-postgres: $("$INITDB" --version) is present"
    exit 0
fi

fail() {
    echo "install-postgres: ERROR: $*" >&2
    echo "install-postgres: install Debian's postgresql-15 package by hand" \
         "(apt-get install postgresql-15) so that $INITDB exists, then run this again." >&2
    exit 1
}

command -v apt-get >/dev/null || fail "$INITDB is missing and apt-get is not available"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || fail "$INITDB is missing; need root or sudo to install it"
    SUDO=(sudo)
fi

echo "install-postgres: installing Debian's postgresql-15 (apt-get update, then install)"
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt() {  # apt-get's own output goes to the log, shown only when it fails
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$log" 2>&1 || { tail -n 30 "$log" >&2; fail "apt-get $1 failed"; }
}
"${SUDO[@]}" mkdir -p /etc/postgresql-common
echo "create_main_cluster = false" | "${SUDO[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
apt update
apt install -y --no-install-recommends -o Dpkg::Options::=--force-confold postgresql-15
[[ -x "$INITDB" ]] || fail "postgresql-15 was installed but $INITDB is missing"
echo "install-postgres: $("$INITDB" --version) installed in $((SECONDS - start)) s"
