#!/usr/bin/env bash
# The accessibility tests run axe-core (Deque's engine, from npm) inside every page. Installs
# it under tests/axe/node_modules (ignored by git) with npm, once.
set -euo pipefail
cd "$(dirname "$0")/../tests/axe"
if [ -f node_modules/axe-core/axe.min.js ]; then
    echo "install-axe: axe-core is present"
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "install-axe: no npm; the accessibility tests will be skipped" >&2
    exit 0
fi
npm install --no-audit --no-fund --silent
echo "install-axe: installed axe-core"
