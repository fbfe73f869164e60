'use strict';
// The local hub (tools/hub) for the tests: started on a free loopback port, stopped by stop().
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const HUB = path.join(REPO, 'tools', 'hub', 'suprsend-hub');
const KEY = 'node_test_key';
const SECRET = 'node_test_secret';

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function startHub() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'suprsend-node-hub-'));
  const portFile = path.join(dir, 'port');
  const proc = spawn('python3', [HUB, '--host', '127.0.0.1', '--port', '0', '--port-file', portFile,
    '--workspace', `${KEY}:${SECRET}`, '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  let exited = false;
  proc.on('exit', () => { exited = true; });
  for (let i = 0; i < 400 && !exited; i++) {
    if (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()) break;
    await sleep(25);
  }
  if (exited || !fs.existsSync(portFile)) throw new Error('the local hub did not start');
  const port = Number(fs.readFileSync(portFile, 'utf8').trim());
  proc.unref();
  const hub = {
    port,
    dir,
    base_url: `http://127.0.0.1:${port}/`,
    key: KEY,
    secret: SECRET,
    call(method, p, body) {
      return new Promise((resolve, reject) => {
        const data = body === undefined ? null : JSON.stringify(body);
        const req = http.request({ host: '127.0.0.1', port, method, path: p, agent: false,
          headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => { text += c; });
          res.on('end', () => { try { resolve(JSON.parse(text)); } catch (e) { resolve(text); } });
        });
        req.on('error', reject);
        if (data) req.write(data);
        req.end();
      });
    },
    events() { return hub.call('GET', '/_hub/events'); },
    stats() { return hub.call('GET', '/_hub/stats'); },
    faults(f) { return hub.call('POST', '/_hub/faults', f); },
    async reset() {
      await hub.call('POST', '/_hub/release', { drop: true });
      for (let i = 0; i < 200; i++) {
        const inflight = await hub.call('GET', '/_hub/inflight');
        if (inflight.active === 0) break;
        await sleep(10);
      }
      await hub.call('POST', '/_hub/reset', {});
    },
    async waitEvents(n, ms = 10000) {
      const end = Date.now() + ms;
      let evs = [];
      while (Date.now() < end) {
        evs = await hub.events();
        if (evs.length >= n) return evs;
        await sleep(25);
      }
      return evs;
    },
    stop() {
      try { proc.kill('SIGTERM'); } catch (_) { /* gone */ }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return hub;
}

module.exports = { startHub, sleep, REPO, KEY, SECRET };
