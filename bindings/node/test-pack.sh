#!/usr/bin/env bash
# bindings/node/test-pack.sh [TGZ]: the npm package installed offline into a fresh project outside
# the checkout (npm install --offline, an empty npm cache: no registry), then, with no
# LD_LIBRARY_PATH and the checkout's dist/ out of reach, checks that the addon and the library
# loaded are the package's, sends an event and a bulk to the local hub, and runs the binding's
# suites against the installed package (this is `make test-node-pack`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tgz="${1:-$repo/dist/node/suprsend-native-$(node -p 'require(process.argv[1]).version' "$here/package.json").tgz}"
[[ -f "$tgz" ]] || { echo "test-pack.sh: $tgz missing (make node-pack)" >&2; exit 2; }
work="$(mktemp -d "${TMPDIR:-/tmp}/suprsend-node-install.XXXXXX")"
. "$repo/tools/hub/start-hub.sh"
hub_pid=""
cleanup() { stop_hub "$hub_pid"; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/app"
cd "$work/app"
printf '{"name": "app", "version": "1.0.0", "private": true}\n' >package.json
npm install --offline --no-audit --no-fund --silent --cache "$work/npm-cache" "$tgz"
pkg="$work/app/node_modules/suprsend-native"
[[ -f "$pkg/build/suprsend.node" && -f "$pkg/build/libsuprsend.so.0" ]]
echo "test-pack.sh: installed into $pkg"

start_hub "$work" --workspace pack_key:pack_secret --quiet
hub_pid=$HUB_PID
env -u LD_LIBRARY_PATH -u SUPRSEND_NODE_ADDON -u SUPRSEND_LIBRARY HUB_URL="http://127.0.0.1:$HUB_PORT/" PKG="$pkg" node -e '
  const { Suprsend, Event, addonPath, libraryVersion } = require("suprsend-native");
  const fs = require("fs");
  const maps = fs.readFileSync("/proc/self/maps", "utf8").split("\n");
  const lib = maps.find((l) => l.includes("libsuprsend"));
  const pkg = fs.realpathSync(process.env.PKG);
  if (!addonPath.startsWith(pkg)) throw new Error("addon not from the package: " + addonPath);
  if (!lib || !lib.includes(pkg + "/build/libsuprsend.so.0")) throw new Error("library not from the package: " + lib);
  (async () => {
    const c = new Suprsend("pack_key", "pack_secret", { base_url: process.env.HUB_URL });
    const r = await c.track_event(new Event("u1", "from_npm_package", { ok: true }));
    const b = c.bulk_events.new_instance();
    b.append(new Event("u2", "from_npm_package"), new Event("u3", "from_npm_package"));
    const br = await b.trigger();
    if (!r.success || br.success !== 2) throw new Error(JSON.stringify([r, br]));
    console.log("test-pack.sh: libsuprsend " + libraryVersion + " from " + lib.split(/\s+/).pop() + "; event and bulk accepted");
  })().catch((e) => { console.error(e); process.exit(1); });
'
# The binding's suites, against the installed package (they require(".."): run a copy of them).
mkdir -p "$work/suite/test"
cp "$here"/test/*.js "$work/suite/test/"
rm "$work/suite/test/loading.test.js" # the checkout's way of finding the library (checked above for the package)
printf "module.exports = require('suprsend-native');\n" >"$work/suite/index.js"
ln -s "$work/app/node_modules" "$work/suite/node_modules"
mkdir -p "$work/suite/tools" && ln -s "$repo/tools/hub" "$work/suite/tools/hub"
sed -i "s#path.resolve(__dirname, '..', '..', '..')#path.resolve(__dirname, '..')#" "$work/suite/test/hub.js"
cd "$work/suite"
env -u LD_LIBRARY_PATH -u SUPRSEND_NODE_ADDON -u SUPRSEND_LIBRARY node --expose-gc --test test/*.test.js 2>&1 | tail -8
