'use strict';
// The load client of bench/ws_bench.py and bench/ws_c50k.py: lean, so that
// the server, not the client, is the limit. Plain TCP sockets (node's `net`,
// no WebSocket library): one handshake request built once (a fixed key, its
// Sec-WebSocket-Accept checked), every frame it sends built once and masked
// with a fixed random key, and a frame parser that reads the server's frames
// in place, answers pings, and compares echoes byte for byte. One process,
// one event loop: pinned to its own CPU by the bench.
//
//   node client.js echo      --url U --sockets N --duration S --warmup W [--sync 1]
//   node client.js idle      --url U --sockets N --concurrency C
//   node client.js broadcast --url U --sockets N --messages M --bursts B --warmup-bursts K [--sync 1]
//
// Common options: --concurrency C (handshakes in flight, default 50),
// --addresses K and --first-address A (the client's sockets are bound to
// 127.0.0.A ... 127.0.0.(A+K-1) in turn, for more than one address's worth of
// ports; default one, unbound), --timeout T (seconds the whole run may take).
//
// Every mode prints one JSON line on stdout (or {"error": ...} and exits 1).
// cpu_share is this process's user+system CPU seconds over the wall seconds
// of the measured window (process.cpuUsage, all of its threads): near 1.0
// the client, not the server, was the limit.
//
// echo: N sockets, each sending a short text message and waiting for its
//   echo before the next (closed loop); W seconds of warm-up, then S seconds
//   counted: messages/s and latency percentiles. With --sync 1 it prints
//   {"phase": "window"} as the counted window starts, and its result as soon
//   as the window ends (so the bench can read the server's CPU time around
//   the window alone).
// idle: open N sockets, at most C handshakes in flight; a socket counts as
//   open at the 101; then wait for every socket's "ready" from the server
//   (its handler is up), print, and hold them all open until stdin closes.
// broadcast: open N sockets, wait for every "ready", then K + B times: send
//   "go" on the first socket and time until every socket has received M
//   messages; the K warm-up bursts are not reported. With --sync 1 it prints
//   {"phase": "open", ...} (with the opening's figures, as idle's) once every
//   socket is ready and waits for a line on stdin before the first burst (so
//   the bench can read the server's memory and CPU time around the bursts
//   alone), prints its result, and holds the sockets until stdin closes.
//
// Sockets end with a reset (no close handshake, no TIME_WAIT left behind:
// a run of 50,000 sockets must not use up the next run's ports).

const net = require('node:net');
const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');

const ECHO_MESSAGE = 'trio-misultin echo bench payload';
const READY = Buffer.from('ready');
const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='; // RFC 6455's example key
const ACCEPT = crypto
  .createHash('sha1')
  .update(KEY + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
  .digest('base64')
  .toLowerCase();
const MASK = crypto.randomBytes(4);

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
    addresses: 0,
    firstAddress: 1,
  };
  for (let i = 1; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in opts) || key === 'mode' || i + 1 >= argv.length) {
      fail(`bad argument ${argv[i]}`);
    }
    opts[key] = key === 'url' ? argv[i + 1] : Number(argv[i + 1]);
  }
  const url = new URL(opts.url);
  opts.host = url.hostname;
  opts.port = Number(url.port);
  opts.path = url.pathname + url.search;
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

// A client frame (masked with MASK), built once for each payload sent often.
function clientFrame(opcode, payload) {
  const length = payload.length;
  const header = length < 126 ? 6 : 8;
  const frame = Buffer.alloc(header + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  }
  MASK.copy(frame, header - 4);
  for (let i = 0; i < length; i++) frame[header + i] = payload[i] ^ MASK[i & 3];
  return frame;
}

const ECHO_FRAME = clientFrame(0x1, Buffer.from(ECHO_MESSAGE));
const ECHO_PAYLOAD = Buffer.from(ECHO_MESSAGE);
const GO_FRAME = clientFrame(0x1, Buffer.from('go'));

// One socket: its handshake, then the server's frames parsed in place.
// onMessage(conn, buffer, start, end, opcode) gets each data frame's payload.
class Conn {
  constructor(index, sock) {
    this.index = index;
    this.sock = sock;
    this.buf = null; // bytes not parsed yet
    this.open = false; // the 101 came
    this.ready = false;
  }

  feed(chunk, client) {
    let buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    if (!this.open) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 8192) fail(`socket ${this.index}: no end of the 101's head`);
        this.buf = buf;
        return;
      }
      const head = buf.toString('latin1', 0, end).toLowerCase();
      if (!head.startsWith('http/1.1 101') || !head.includes(ACCEPT)) {
        fail(`socket ${this.index}: not a 101 with the right accept: ${head.slice(0, 200)}`);
      }
      this.open = true;
      pos = end + 4;
      client.opened(this);
    }
    const length = buf.length;
    while (length - pos >= 2) {
      const b0 = buf[pos];
      let size = buf[pos + 1] & 0x7f;
      let header = 2;
      if (size === 126) {
        if (length - pos < 4) break;
        size = buf.readUInt16BE(pos + 2);
        header = 4;
      } else if (size === 127) {
        if (length - pos < 10) break;
        size = Number(buf.readBigUInt64BE(pos + 2));
        header = 10;
      }
      if (length - pos < header + size) break;
      const start = pos + header;
      const end = start + size;
      pos = end;
      const opcode = b0 & 0x0f;
      if (opcode === 0x9) {
        this.sock.write(clientFrame(0xa, buf.subarray(start, end)));
      } else if (opcode === 0x8) {
        if (!client.closing) fail(`socket ${this.index} closed by the server`);
        return;
      } else if (opcode === 0x1 || opcode === 0x2) {
        if (!(b0 & 0x80)) fail(`socket ${this.index}: a fragmented message`);
        if (!this.ready) {
          if (size !== READY.length || buf.compare(READY, 0, READY.length, start, end) !== 0) {
            fail(`socket ${this.index}: expected "ready" first`);
          }
          this.ready = true;
          client.readied(this);
        } else {
          client.onMessage(this, buf, start, end, opcode);
        }
      }
    }
    this.buf = pos === length ? null : buf.subarray(pos);
  }
}

// The sockets of one run, opened at most `concurrency` at a time.
class Client {
  constructor(opts, waitReady, onMessage) {
    this.opts = opts;
    this.waitReady = waitReady;
    this.onMessage = onMessage;
    this.conns = new Array(opts.sockets);
    this.started = 0;
    this.openCount = 0;
    this.readyCount = 0;
    this.openSeconds = 0;
    this.closing = false;
    this.request = Buffer.from(
      `GET ${opts.path} HTTP/1.1\r\nHost: ${opts.host}:${opts.port}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n` +
        'Sec-WebSocket-Version: 13\r\n\r\n',
    );
  }

  openAll() {
    return new Promise((resolve) => {
      this.start = performance.now();
      this.done = resolve;
      const first = Math.min(this.opts.concurrency, this.opts.sockets);
      for (let i = 0; i < first; i++) this.startOne();
    });
  }

  startOne() {
    const index = this.started++;
    const opts = this.opts;
    const options = { host: opts.host, port: opts.port, noDelay: true };
    if (opts.addresses > 0) {
      options.localAddress = `127.0.0.${opts.firstAddress + (index % opts.addresses)}`;
    }
    const sock = net.connect(options);
    const conn = new Conn(index, sock);
    this.conns[index] = conn;
    sock.on('connect', () => sock.write(this.request));
    sock.on('data', (chunk) => conn.feed(chunk, this));
    sock.on('error', (err) => {
      if (!this.closing) fail(`socket ${index}: ${err.message}`);
    });
    sock.on('close', () => {
      if (!this.closing) fail(`socket ${index} closed by the server`);
    });
  }

  opened(conn) {
    this.openCount += 1;
    if (this.openCount === this.opts.sockets) {
      this.openSeconds = (performance.now() - this.start) / 1000;
    }
    if (this.started < this.opts.sockets) this.startOne();
    if (!this.waitReady) conn.ready = true;
    this.finishIfDone();
  }

  readied() {
    this.readyCount += 1;
    this.finishIfDone();
  }

  finishIfDone() {
    const n = this.opts.sockets;
    if (this.done && this.openCount === n && (!this.waitReady || this.readyCount === n)) {
      const done = this.done;
      this.done = null;
      done();
    }
  }

  closeAll() {
    this.closing = true;
    for (const conn of this.conns) if (conn) conn.sock.resetAndDestroy();
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function holdUntilStdinEnds(client) {
  process.stdin.resume();
  process.stdin.on('end', () => {
    client.closeAll();
    process.exit(0);
  });
}

async function echo(opts) {
  const count = opts.sockets;
  const sentAt = new Float64Array(count);
  const latencies = [];
  let recording = false;
  let stopped = false;
  let messages = 0;
  const onMessage = (conn, buf, start, end, opcode) => {
    const now = performance.now();
    if (
      opcode !== 0x1 ||
      end - start !== ECHO_PAYLOAD.length ||
      buf.compare(ECHO_PAYLOAD, 0, ECHO_PAYLOAD.length, start, end) !== 0
    ) {
      fail(`socket ${conn.index}: the echo differs from what was sent`);
    }
    if (recording) {
      latencies.push(now - sentAt[conn.index]);
      messages += 1;
    }
    if (!stopped) {
      sentAt[conn.index] = performance.now();
      conn.sock.write(ECHO_FRAME);
    }
  };
  const client = new Client(opts, false, onMessage);
  await client.openAll();
  for (const conn of client.conns) {
    sentAt[conn.index] = performance.now();
    conn.sock.write(ECHO_FRAME);
  }
  await new Promise((r) => setTimeout(r, opts.warmup * 1000));
  if (opts.sync) report({ phase: 'window' });
  recording = true;
  const clock = window();
  await new Promise((r) => setTimeout(r, opts.duration * 1000));
  recording = false;
  stopped = true;
  const { seconds, cpu_share } = clock();
  const sorted = Float64Array.from(latencies).sort();
  report({
    messages,
    seconds,
    messages_per_s: messages / seconds,
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    cpu_share,
  });
  client.closeAll();
}

async function openReady(opts, onMessage) {
  const clock = window();
  const client = new Client(opts, true, onMessage);
  await client.openAll();
  const { cpu_share } = clock();
  const opened = {
    sockets: opts.sockets,
    open_seconds: client.openSeconds,
    handshakes_per_s: opts.sockets / client.openSeconds,
    cpu_share,
  };
  return { client, opened };
}

async function idle(opts) {
  const { client, opened } = await openReady(opts, (conn) =>
    fail(`socket ${conn.index}: an idle socket got a message`),
  );
  report(opened);
  holdUntilStdinEnds(client); // until the bench has read the server's memory
}

async function broadcast(opts) {
  const count = opts.sockets;
  const expected = count * opts.messages;
  let received = 0;
  let burstDone = null;
  let size = -1; // the broadcast message's length: every delivery must have it
  const onMessage = (conn, buf, start, end, opcode) => {
    if (size < 0) size = end - start;
    if (opcode !== 0x1 || end - start !== size) {
      fail(`socket ${conn.index}: unexpected message during a broadcast`);
    }
    received += 1;
    if (received === expected && burstDone) burstDone();
    else if (received > expected) fail(`more than ${expected} deliveries in a burst`);
  };
  const { client, opened } = await openReady(opts, onMessage);
  if (opts.sync) {
    report({ phase: 'open', ...opened });
    await new Promise((resolve) => process.stdin.once('data', resolve));
  }
  const seconds = [];
  let cpuSeconds = 0;
  let wallSeconds = 0;
  const first = client.conns[0].sock;
  for (let burst = 0; burst < opts.warmupBursts + opts.bursts; burst++) {
    received = 0;
    const done = new Promise((r) => {
      burstDone = r;
    });
    const clock = window();
    first.write(GO_FRAME);
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
  if (opts.sync) holdUntilStdinEnds(client);
  else client.closeAll();
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const modes = { echo, idle, broadcast };
  if (!(opts.mode in modes)) fail(`unknown mode ${opts.mode}: echo, idle or broadcast`);
  const timer = setTimeout(() => fail(`timed out after ${opts.timeout} s`), opts.timeout * 1000);
  timer.unref();
  modes[opts.mode](opts).then(
    () => {
      if (opts.mode === 'echo' || (opts.mode === 'broadcast' && !opts.sync)) process.exit(0);
    },
    (err) => fail(String(err && err.stack ? err.stack : err)),
  );
}

main();
