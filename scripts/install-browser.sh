#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests, unless /usr/bin/chromium is already there.
# Playwright never downloads a browser of its own: the tests launch /usr/bin/chromium through
# executable_path. Runs apt-get as root, or through sudo when not root.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    echo "install-browser: $CHROMIUM is present ($("$CHROMIUM" --version 2>/dev/null || echo '?'))"
    exit 0
fi

fail() {
    echo "install-browser: ERROR: $*" >&2
    echo "install-browser: install Debian's chromium package by hand" \
         "(apt-get install chromium) so that $CHROMIUM exists, then run this again." >&2
    exit 1
}

command -v apt-get >/dev/null || fail "$CHROMIUM is missing and apt-get is not available"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || fail "$CHROMIUM is missing; need root or sudo to install it"
    SUDO=(sudo)
fi

echo "install-browser: installing Debian's chromium (apt-get update, then install)"
start=$SECONDS
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt() {  # apt-get's own output goes to the log, shown only when it fails
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@" >"$log" 2>&1 || { tail -n 30 "$log" >&2; fail "apt-get $1 failed"; }
}
apt update
apt install -y --no-install-recommends chromium
[[ -x "$CHROMIUM" ]] || fail "chromium was installed but $CHROMIUM is missing"
echo "install-browser: $("$CHROMIUM" --version 2>/dev/null) installed in $((SECONDS - start)) s"
