'use strict';
// How the binding finds libsuprsend: the addon's run path (beside it, dist/lib, the system's), or
// SUPRSEND_LIBRARY, as for the Python binding.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const INDEX = path.resolve(__dirname, '..');
const REPO = path.resolve(__dirname, '..', '..', '..');

function loadedLibraries(env) {
  const script = `
    const s = require(${JSON.stringify(INDEX)});
    const maps = require('fs').readFileSync('/proc/self/maps', 'utf8').split('\\n');
    const libs = [...new Set(maps.map((l) => l.split(/\\s+/).pop()).filter((p) => /libsuprsend|suprsend-copy/.test(p)))];
    console.log(JSON.stringify({ version: s.libraryVersion, libs }));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? JSON.parse(r.stdout) : null };
}

test('from the checkout the addon loads dist/lib/libsuprsend.so.0 (or a copy beside it)', () => {
  const r = loadedLibraries({ SUPRSEND_LIBRARY: '' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.out.libs.length, 1);
  const real = fs.realpathSync(r.out.libs[0]);
  const beside = path.join(INDEX, 'build');
  const dist = fs.realpathSync(path.join(REPO, 'dist', 'lib', 'libsuprsend.so.0'));
  assert.ok(real === dist || real.startsWith(beside), real);
  assert.match(r.out.version, /^\d+\.\d+\.\d+/);
});

test('SUPRSEND_LIBRARY picks another copy; a bad one is a clear error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'suprsend-lib-'));
  try {
    const copy = path.join(dir, 'suprsend-copy.so');
    fs.copyFileSync(path.join(REPO, 'dist', 'lib', 'libsuprsend.so.0'), copy);
    const r = loadedLibraries({ SUPRSEND_LIBRARY: copy });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.out.libs, [copy]);
    const bad = loadedLibraries({ SUPRSEND_LIBRARY: path.join(dir, 'missing.so') });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /cannot load SUPRSEND_LIBRARY=/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
