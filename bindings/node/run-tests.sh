#!/usr/bin/env bash
# bindings/node/run-tests.sh: the binding's node --test suites against the local hub (each suite
# starts its own hub on a free loopback port). This is `make test-node`, after `make node`.
# Extra arguments go to node (e.g. --test-name-pattern=bulk).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
echo "node $(node --version), addon $here/build/suprsend.node"
exec node --expose-gc --test "$@" test/*.test.js
