#!/usr/bin/env bash
# The single sign-on tests start a real OpenID Provider (node's certified oidc-provider) on
# loopback. Installs it under tests/oidc/node_modules (ignored by git) with npm, once.
set -euo pipefail
cd "$(dirname "$0")/../tests/oidc"
if [ -d node_modules/oidc-provider ]; then
    echo "install-oidc-provider: oidc-provider is present"
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "install-oidc-provider: no npm; the single sign-on tests will be skipped" >&2
    exit 0
fi
npm install --no-audit --no-fund --silent
echo "install-oidc-provider: installed oidc-provider"
