'use strict';
// The load client of bench/ws_bench.py, on the `ws` package (one process,
// one event loop: pinned to its own CPU by the bench).
//
//   node client.js echo      --url U --sockets N --duration S --warmup W
//   node client.js idle      --url U --sockets N --concurrency C
//   node client.js broadcast --url U --sockets N --messages M --bursts B --warmup-bursts K [--sync 1]
//
// Every mode prints one JSON line on stdout (or {"error": ...} and exits 1).
// cpu_share is this process's user+system CPU seconds over the wall seconds
// of the measured window (process.cpuUsage, all of its threads): near 1.0
// the client, not the server, was the limit.
//
// echo: N sockets, each sending a short text message and waiting for its
//   echo before the next (closed loop); W seconds of warm-up, then S seconds
//   counted: messages/s and latency percentiles.
// idle: open N sockets, at most C handshakes in flight; a socket counts as
//   open at the 101; then wait for every socket's "ready" from the server
//   (its handler is up), print, and hold them all open until stdin closes.
// broadcast: open N sockets, wait for every "ready", then K + B times: send
//   "go" on the first socket and time until every socket has received M
//   messages; the K warm-up bursts are not reported. With --sync 1 it prints
//   {"phase": "open"} once every socket is ready and waits for a line on
//   stdin before the first burst (so the bench can read the server's CPU
//   time around the bursts alone), and prints its result before closing.

const { performance } = require('node:perf_hooks');
const WebSocket = require('ws');

const ECHO_MESSAGE = 'trio-misultin echo bench payload';
const READY = 'ready';

function parseArgs(argv) {
  const opts = {
    mode: argv[0],
    url: 'ws://127.0.0.1:9001/',
    sockets: 1,
    duration: 5,
    warmup: 1,
    concurrency: 50,
    messages: 100,
    bursts: 3,
    warmupBursts: 1,
    timeout: 60,
    sync: 0,
  };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in opts) || key === 'mode' || i + 1 >= argv.length) {
      fail(`bad argument ${argv[i]}`);
    }
    opts[key] = key === 'url' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return opts;
}

function fail(message) {
  process.stdout.write(JSON.stringify({ error: message }) + '\n');
  process.exit(1);
}

function report(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
}

// A clock for the measured window: wall seconds and CPU seconds of this process.
function window() {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  return () => {
    const wall = (performance.now() - wall0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { seconds: wall, cpu_share: (cpu.user + cpu.system) / 1e6 / wall };
  };
}

// Open `count` sockets, at most `concurrency` handshakes in flight. Resolves
// with the sockets and the seconds until the last 101; with `waitReady`, only
// once every socket has also received the server's "ready" as its first
// message. `onMessage(index, data, isBinary)` gets every later message.
function openAll(opts, count, concurrency, waitReady, onMessage) {
  return new Promise((resolve) => {
    const sockets = new Array(count);
    const start = performance.now();
    let started = 0;
    let opened = 0;
    let ready = 0;
    let openSeconds = 0;
    const finishIfDone = () => {
      if (opened === count && (!waitReady || ready === count)) {
        resolve({ sockets, openSeconds });
      }
    };
    const startOne = () => {
      const index = started++;
      // No compression offered; no UTF-8 check of what comes in (the client's
      // own cost is not what is measured, and every server sends ASCII).
      const ws = new WebSocket(opts.url, { perMessageDeflate: false, skipUTF8Validation: true });
      sockets[index] = ws;
      let gotReady = !waitReady;
      ws.on('open', () => {
        opened += 1;
        if (opened === count) openSeconds = (performance.now() - start) / 1000;
        if (started < count) startOne();
        finishIfDone();
      });
      ws.on('message', (data, isBinary) => {
        if (!gotReady) {
          if (isBinary || data.toString() !== READY) {
            fail(`socket ${index}: expected "${READY}" first, got ${data.toString().slice(0, 80)}`);
          }
          gotReady = true;
          ready += 1;
          finishIfDone();
          return;
        }
        onMessage(index, data, isBinary);
      });
      ws.on('error', (err) => fail(`socket ${index}: ${err.message}`));
      ws.on('close', (code) => {
        if (!closing) fail(`socket ${index} closed by the server (${code})`);
      });
    };
    for (let i = 0; i < Math.min(concurrency, count); i++) startOne();
  });
}

let closing = false;

function closeAll(sockets) {
  closing = true;
  for (const ws of sockets) if (ws) ws.terminate();
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function echo(opts) {
  const count = opts.sockets;
  const sentAt = new Float64Array(count);
  const latencies = [];
  let recording = false;
  let stopped = false;
  let messages = 0;
  const onMessage = (index, data, isBinary) => {
    const now = performance.now();
    if (isBinary || data.toString() !== ECHO_MESSAGE) {
      fail(`socket ${index}: the echo differs from what was sent`);
    }
    if (recording) {
      latencies.push(now - sentAt[index]);
      messages += 1;
    }
    if (!stopped) {
      sentAt[index] = performance.now();
      sockets[index].send(ECHO_MESSAGE);
    }
  };
  const { sockets } = await openAll(opts, count, opts.concurrency, false, onMessage);
  for (let i = 0; i < count; i++) {
    sentAt[i] = performance.now();
    sockets[i].send(ECHO_MESSAGE);
  }
  await new Promise((r) => setTimeout(r, opts.warmup * 1000));
  recording = true;
  const clock = window();
  await new Promise((r) => setTimeout(r, opts.duration * 1000));
  recording = false;
  stopped = true;
  const { seconds, cpu_share } = clock();
  const sorted = Float64Array.from(latencies).sort();
  closeAll(sockets);
  report({
    messages,
    seconds,
    messages_per_s: messages / seconds,
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    cpu_share,
  });
}

async function idle(opts) {
  const clock = window();
  const { sockets, openSeconds } = await openAll(opts, opts.sockets, opts.concurrency, true, (i) =>
    fail(`socket ${i}: an idle socket got a message`),
  );
  const { cpu_share } = clock();
  report({
    sockets: opts.sockets,
    open_seconds: openSeconds,
    handshakes_per_s: opts.sockets / openSeconds,
    cpu_share,
  });
  // Held open until the bench has read the server's memory and closes stdin.
  process.stdin.resume();
  process.stdin.on('end', () => {
    closeAll(sockets);
    process.exit(0);
  });
}

async function broadcast(opts) {
  const count = opts.sockets;
  const expected = count * opts.messages;
  let received = 0;
  let burstDone = null;
  let size = -1; // the broadcast message's length: every delivery must have it
  const onMessage = (index, data, isBinary) => {
    if (size < 0) size = data.length;
    if (isBinary || data.length !== size) {
      fail(`socket ${index}: unexpected message during a broadcast`);
    }
    received += 1;
    if (received === expected && burstDone) burstDone();
    else if (received > expected) fail(`more than ${expected} deliveries in a burst`);
  };
  const { sockets } = await openAll(opts, count, opts.concurrency, true, onMessage);
  if (opts.sync) {
    report({ phase: 'open' });
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }
  const seconds = [];
  let cpuSeconds = 0;
  let wallSeconds = 0;
  for (let burst = 0; burst < opts.warmupBursts + opts.bursts; burst++) {
    received = 0;
    const done = new Promise((r) => {
      burstDone = r;
    });
    const clock = window();
    sockets[0].send('go');
    await done;
    const took = clock();
    if (burst >= opts.warmupBursts) {
      seconds.push(took.seconds);
      wallSeconds += took.seconds;
      cpuSeconds += took.cpu_share * took.seconds;
    }
  }
  report({
    sockets: count,
    deliveries: expected,
    seconds,
    deliveries_per_s: seconds.map((s) => expected / s),
    cpu_share: cpuSeconds / wallSeconds,
  });
  closeAll(sockets);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const modes = { echo, idle, broadcast };
  if (!(opts.mode in modes)) fail(`unknown mode ${opts.mode}: echo, idle or broadcast`);
  const timer = setTimeout(() => fail(`timed out after ${opts.timeout} s`), opts.timeout * 1000);
  timer.unref();
  modes[opts.mode](opts).then(
    () => {
      if (opts.mode !== 'idle') process.exit(0);
    },
    (err) => fail(String(err && err.stack ? err.stack : err)),
  );
}

main();
