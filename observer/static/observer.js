// observer: the page's script. Vanilla JavaScript, no framework, no CDN.
//
// One WebSocket (/ws) brings a snapshot about once a second and at once on a
// crash or a restart; the page updates in place, element by element, keyed by
// what each element shows (a node, a supervisor's child, a process), so that
// what you are looking at (or clicking) stays the same element between
// updates. Every value is set as text, never as HTML: names, reasons and
// states come from the processes observed. System processes (the node's own
// and the observer's), trees whose root is one, and their sockets are hidden
// until "show system processes" is ticked, and never have a kill button.
"use strict";

(function () {
  const $ = (selector) => document.querySelector(selector);
  const NUMERIC = new Set(["message_queue_len", "received", "runtime", "monitors"]);

  let socket = null;
  let latest = null; // the last snapshot
  let sortKey = "message_queue_len";
  let sortDescending = true;
  let token = "";
  let detailOf = null; // {node, pid} shown in the detail panel
  let detailAsked = false;
  let showSystem = false; // the "show system processes" box

  // -- small helpers -----------------------------------------------------------

  function make(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = String(text);
    return element;
  }

  function setText(element, text) {
    const value = text === undefined || text === null ? "" : String(text);
    if (element.textContent !== value) element.textContent = value;
  }

  function setData(element, name, value) {
    const text = value === undefined || value === null ? "" : String(value);
    if (element.dataset[name] !== text) element.dataset[name] = text;
  }

  function pidLink(node, pid) {
    const link = make("a", "pid", pid);
    link.dataset.node = node;
    link.dataset.pid = pid;
    return link;
  }

  function bytes(n) {
    if (typeof n !== "number") return "";
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
    if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MiB";
    return (n / 1024 / 1024 / 1024).toFixed(2) + " GiB";
  }

  function duration(seconds) {
    if (typeof seconds !== "number") return "";
    if (seconds < 60) return seconds.toFixed(0) + " s";
    if (seconds < 3600) return (seconds / 60).toFixed(1) + " min";
    if (seconds < 86400) return (seconds / 3600).toFixed(1) + " h";
    return (seconds / 86400).toFixed(1) + " d";
  }

  function clock(epochSeconds) {
    return new Date(epochSeconds * 1000).toLocaleTimeString();
  }

  function say(text, bad) {
    const message = $("#message");
    message.textContent = text;
    message.className = bad ? "bad" : "";
  }

  // Make `parent`'s children show `items`, in order: an existing child whose
  // data-key is an item's key is kept and updated, a missing one is made,
  // the rest are removed.
  function sync(parent, items, keyOf, create, update) {
    const old = new Map();
    for (const child of Array.from(parent.children)) {
      if (child.dataset.key !== undefined) old.set(child.dataset.key, child);
      else child.remove();
    }
    items.forEach((item, index) => {
      const key = keyOf(item, index);
      let element = old.get(key);
      if (element) old.delete(key);
      else {
        element = create(item);
        element.dataset.key = key;
      }
      update(element, item);
      const here = parent.children[index];
      if (here !== element) parent.insertBefore(element, here || null);
    });
    for (const element of old.values()) element.remove();
  }

  // -- nodes -------------------------------------------------------------------

  function renderNodes(snapshot) {
    sync(
      $("#nodes tbody"),
      snapshot.nodes,
      (node) => node.node,
      () => {
        const row = make("tr");
        for (const name of ["node", "processes", "rss", "rate", "websockets", "http", "uptime", "note"]) {
          row.appendChild(make("td", name === "node" || name === "note" ? name : "num " + name));
        }
        return row;
      },
      (row, node) => {
        const cells = row.children;
        setText(cells[0], node.node);
        setText(cells[1], node.processes);
        setText(cells[2], bytes(node.rss));
        setText(cells[3], typeof node.rate === "number" ? node.rate.toFixed(1) : "");
        setText(cells[4], node.websockets);
        setText(cells[5], node.http_connections);
        setText(cells[6], duration(node.uptime));
        setText(cells[7], node.error || (node.hidden ? "hidden" : ""));
        cells[7].className = node.error ? "note error" : "note muted";
      }
    );
  }

  // -- supervision trees -------------------------------------------------------

  function childKeys(children) {
    // simple_one_for_one children share their template's id: number them
    const seen = new Map();
    return children.map((child) => {
      const n = seen.get(child.id) || 0;
      seen.set(child.id, n + 1);
      return n === 0 ? String(child.id) : child.id + "#" + n;
    });
  }

  function createNode() {
    const item = make("li", "node");
    const row = make("div", "row");
    row.append(
      make("span", "label"),
      make("a", "pid"),
      make("span", "kind muted"),
      make("span", "strategy"),
      make("span", "made muted"),
      make("span", "restarted muted"),
      make("span", "last-exit")
    );
    const kill = make("button", "kill", "kill");
    kill.type = "button";
    row.appendChild(kill);
    item.appendChild(row);
    return item;
  }

  // The restart limit and where the supervisor stands, in words that cannot
  // be read as "exceeded": the limit, the restarts it bounds (those within
  // the last period), and the total since the supervisor started.
  function intensity(spec) {
    const allowed = `${spec.intensity} restart${spec.intensity === 1 ? "" : "s"} allowed within ${spec.period} s`;
    const recent = typeof spec.recent === "number" ? `${spec.recent} in the last ${spec.period} s, ` : "";
    return `${allowed}; ${recent}${spec.restarts} in all`;
  }

  // `sup` is a top supervisor ({pid, name, strategy, ..., children}) or a
  // child ({id, pid, type, restart, restarts, last_exit, children, supervisor}).
  function updateNode(item, entry, node, isRoot) {
    const isSupervisor = isRoot || entry.type === "supervisor";
    const spec = isRoot ? entry : entry.supervisor || {};
    item.classList.toggle("supervisor", isSupervisor);
    item.classList.toggle("worker", !isSupervisor);
    item.classList.toggle("down", !entry.pid);
    item.classList.toggle("restarted", !isRoot && entry.restarts > 0);
    item.classList.toggle("system", entry.system === true);
    const id = isRoot ? entry.name || "" : entry.id;
    setData(item, "id", id);
    setData(item, "pid", entry.pid || "");
    setData(item, "node", node);
    setData(item, "restarts", isRoot ? spec.restarts : entry.restarts);
    const row = item.firstElementChild;
    const [label, pid, kind, strategy, made, restarted, lastExit, kill] = row.children;
    setText(label, isRoot ? entry.name || "supervisor" : entry.id);
    setText(pid, entry.pid || "not running");
    setData(pid, "node", node);
    setData(pid, "pid", entry.pid || "");
    setText(kind, (isRoot ? "" : entry.type + ", " + entry.restart) + (entry.system ? " (system)" : ""));
    setText(strategy, isSupervisor && spec.strategy ? spec.strategy : "");
    setText(made, isSupervisor && spec.strategy ? intensity(spec) : "");
    if (isRoot) setText(restarted, "");
    else {
      let count = restarted.querySelector(".restarts");
      if (!count) {
        count = make("span", "restarts");
        restarted.replaceChildren(document.createTextNode("restarted: "), count);
      }
      setText(count, entry.restarts);
    }
    setText(lastExit, !isRoot && entry.last_exit ? "last exit: " + entry.last_exit : "");
    kill.hidden = !entry.pid || entry.system !== false;
    setData(kill, "node", node);
    setData(kill, "pid", entry.pid || "");
    // a subtree too deep for the wire between nodes comes as text: left out
    const children = (entry.children || []).filter((child) => child && typeof child === "object");
    let list = item.querySelector(":scope > ul.children");
    if (isSupervisor) {
      if (!list) {
        list = make("ul", "children");
        item.appendChild(list);
      }
      const keys = childKeys(children);
      sync(
        list,
        children,
        (child, index) => keys[index],
        createNode,
        (element, child) => updateNode(element, child, node, false)
      );
    } else if (list) list.remove();
  }

  function renderTrees(snapshot) {
    const trees = $("#trees");
    const shown = snapshot.trees.filter((tree) => showSystem || tree.system !== true);
    if (!shown.length) {
      if (!trees.querySelector("p.empty")) trees.replaceChildren(make("p", "empty", "no supervisor"));
      return;
    }
    for (const stray of trees.querySelectorAll(":scope > p.empty")) stray.remove();
    sync(
      trees,
      shown,
      (tree) => tree.node + " " + tree.pid,
      () => {
        const box = make("div", "tree-root");
        box.append(make("div", "tree-node-name"), make("ul", "tree"));
        box.lastChild.appendChild(createNode());
        return box;
      },
      (box, tree) => {
        setText(box.firstChild, "on " + tree.node);
        updateNode(box.lastChild.firstChild, tree, tree.node, true);
      }
    );
  }

  // -- global names ------------------------------------------------------------

  function globalsByPid(snapshot) {
    const names = new Map();
    for (const entry of snapshot.globals || []) {
      const key = entry.node + " " + entry.pid;
      names.set(key, (names.get(key) || []).concat([entry.name]));
    }
    return names;
  }

  function renderGlobals(snapshot) {
    const rows = (snapshot.globals || []).filter((entry) => showSystem || entry.system !== true);
    const total = snapshot.globals_total || 0;
    let count = `${total}`;
    if (total > (snapshot.globals || []).length) count += ` (the first ${snapshot.globals.length} shown)`;
    setText($("#global-count"), count);
    sync(
      $("#globals tbody"),
      rows,
      (entry) => entry.name + " " + entry.node + " " + entry.pid,
      () => {
        const tr = make("tr");
        tr.append(make("td", "name"), make("td", "pid"), make("td", "node"));
        return tr;
      },
      (tr, entry) => {
        const cells = tr.children;
        setText(cells[0], entry.name);
        if (cells[1].textContent !== entry.pid) cells[1].replaceChildren(pidLink(entry.node, entry.pid));
        setText(cells[2], entry.node);
      }
    );
    if (!rows.length && !$("#globals tbody").children.length) {
      const tr = make("tr", "empty");
      const cell = make("td", "muted", "no global name registered (actors.register_global)");
      cell.colSpan = 3;
      tr.appendChild(cell);
      $("#globals tbody").appendChild(tr);
    }
  }

  // -- events ------------------------------------------------------------------

  function renderEvents(snapshot) {
    const shown = showSystem ? snapshot.events.concat(snapshot.system_events || []) : snapshot.events;
    const events = shown.slice().sort((a, b) => b.time - a.time); // newest first
    const dropped = snapshot.events_dropped || {};
    const missed = (dropped.crashes || 0) + (dropped.restarts || 0) + (showSystem ? dropped.system || 0 : 0);
    const note = $("#events-dropped");
    note.hidden = !missed;
    setText(note, missed ? `and ${missed} more, not listed: too many at once` : "");
    sync(
      $("#events"),
      events,
      (event) => event.time + " " + event.kind + " " + (event.pid || event.old || "") + (event.id || ""),
      (event) => {
        const item = make("li");
        item.append(make("span", "muted", clock(event.time) + " "), make("span", "kind " + event.kind, event.kind));
        if (event.system) item.append(make("span", "system-tag", " system"));
        let text;
        if (event.kind === "restart") {
          text = ` ${event.id} under ${event.supervisor}: ${event.old || "-"} \u2192 ${event.new || "-"} (${event.reason})`;
        } else {
          text = ` ${event.pid}: ${event.reason}`;
        }
        item.append(document.createTextNode(text + (event.node ? " on " + event.node : "")));
        return item;
      },
      () => {}
    );
  }

  // -- processes ---------------------------------------------------------------

  function compare(a, b) {
    let x = a[sortKey];
    let y = b[sortKey];
    if (NUMERIC.has(sortKey)) {
      x = typeof x === "number" ? x : -1;
      y = typeof y === "number" ? y : -1;
      return x - y;
    }
    x = x === null || x === undefined ? "" : String(x);
    y = y === null || y === undefined ? "" : String(y);
    return x.localeCompare(y, undefined, { numeric: true });
  }

  function matches(row, filter) {
    if (!filter) return true;
    const text = [row.pid, row.name, row.current_function, row.node, (row.groups || []).join(" ")].join(" ");
    return text.toLowerCase().includes(filter);
  }

  function renderProcesses(snapshot) {
    const filter = $("#filter").value.trim().toLowerCase();
    const globals = globalsByPid(snapshot);
    const visible = snapshot.processes.filter((row) => showSystem || row.system === false);
    const rows = visible.filter((row) => matches(row, filter));
    rows.sort((a, b) => (sortDescending ? -compare(a, b) : compare(a, b)));
    const total = snapshot.processes_total;
    let count = `${rows.length} shown of ${total}`;
    if (total > snapshot.processes.length) count += ` (the ${snapshot.processes.length} busiest sent)`;
    const hidden = snapshot.processes.length - visible.length;
    if (hidden) count += `, ${hidden} system hidden`;
    setText($("#process-count"), count);
    for (const th of document.querySelectorAll("#processes th[data-sort]")) {
      th.classList.toggle("sorted", th.dataset.sort === sortKey);
      th.classList.toggle("desc", th.dataset.sort === sortKey && sortDescending);
      th.classList.toggle("asc", th.dataset.sort === sortKey && !sortDescending);
    }
    sync(
      $("#processes tbody"),
      rows,
      (row) => row.node + " " + row.pid,
      (row) => {
        const tr = make("tr");
        const pidCell = make("td");
        pidCell.appendChild(pidLink(row.node, row.pid));
        tr.appendChild(pidCell);
        for (const name of ["name", "node", "function", "status", "mailbox", "received", "runtime", "links", "monitors", "groups"]) {
          const numeric = ["mailbox", "received", "runtime", "monitors"].includes(name);
          tr.appendChild(make("td", numeric ? "num " + name : name));
        }
        const killCell = make("td");
        const kill = make("button", "kill", "kill");
        kill.type = "button";
        kill.dataset.node = row.node;
        kill.dataset.pid = row.pid;
        killCell.appendChild(kill);
        tr.appendChild(killCell);
        return tr;
      },
      (tr, row) => {
        const cells = tr.children;
        tr.classList.toggle("system", row.system !== false);
        cells[11].firstChild.hidden = row.system !== false; // never killed from the page
        const global = globals.get(row.node + " " + row.pid);
        setText(cells[1], [row.name, global ? "global: " + global.join(", ") : ""].filter(Boolean).join(" \u00b7 "));
        setText(cells[2], row.node);
        setText(cells[3], row.current_function);
        const kind = [row.kind && row.kind !== "process" ? row.kind : "", row.system ? "system" : ""];
        const note = kind.filter(Boolean).join(", ");
        setText(cells[4], row.status + (note ? " (" + note + ")" : ""));
        setText(cells[5], row.message_queue_len);
        setText(cells[6], row.received);
        setText(cells[7], typeof row.runtime === "number" ? row.runtime.toFixed(3) : "");
        setText(cells[8], (row.links || []).join(" "));
        setText(cells[9], row.monitors);
        setText(cells[10], (row.groups || []).join(", "));
      }
    );
  }

  // -- WebSockets --------------------------------------------------------------

  function renderSockets(snapshot) {
    const total = snapshot.sockets_total;
    const sockets = snapshot.sockets.filter((sock) => showSystem || !sock.system);
    let count = `${total} open`;
    if (total > snapshot.sockets.length) count += ` (the ${snapshot.sockets.length} most behind shown)`;
    if (sockets.length < snapshot.sockets.length) count += `, ${snapshot.sockets.length - sockets.length} system hidden`;
    setText($("#socket-count"), count);
    sync(
      $("#sockets tbody"),
      sockets,
      (sock) => sock.node + " " + sock.handler,
      () => {
        const tr = make("tr");
        for (const name of ["peer", "path", "node", "handler", "writer", "queued", "pending", "compression"]) {
          tr.appendChild(make("td", name === "queued" || name === "pending" ? "num " + name : name));
        }
        return tr;
      },
      (tr, sock) => {
        const cells = tr.children;
        setText(cells[0], sock.peer);
        setText(cells[1], sock.path);
        setText(cells[2], sock.node);
        if (cells[3].textContent !== sock.handler) cells[3].replaceChildren(pidLink(sock.node, sock.handler));
        if (cells[4].textContent !== sock.writer) cells[4].replaceChildren(pidLink(sock.node, sock.writer));
        setText(cells[5], bytes(sock.queued_bytes));
        setText(cells[6], sock.pending);
        setText(cells[7], sock.compression ? "on" : "off");
      }
    );
  }

  // -- one process -------------------------------------------------------------

  function askDetail() {
    if (!detailOf || !socket || socket.readyState !== WebSocket.OPEN || detailAsked) return;
    detailAsked = true;
    socket.send(JSON.stringify({ op: "process", node: detailOf.node, pid: detailOf.pid }));
  }

  function showDetail(node, pid) {
    detailOf = { node, pid };
    detailAsked = false;
    $("#detail-section").hidden = false;
    setText($("#detail-pid"), pid + " on " + node);
    const kill = $("#detail-kill");
    kill.dataset.node = node;
    kill.dataset.pid = pid;
    kill.hidden = true; // until the answer says it is a user's process
    $("#detail").replaceChildren(make("p", "muted", "asking\u2026"));
    askDetail();
    $("#detail-section").scrollIntoView({ block: "nearest" });
  }

  function renderDetail(answer) {
    detailAsked = false;
    if (!detailOf || answer.pid !== detailOf.pid || answer.node !== detailOf.node) return;
    const detail = $("#detail");
    $("#detail-kill").hidden = answer.system !== false;
    if (answer.error) {
      detail.replaceChildren(make("p", "error", answer.error));
      return;
    }
    const info = make("table", "info");
    for (const [key, value] of Object.entries(answer.info)) {
      const tr = make("tr");
      tr.append(make("th", "", key), make("td", "", typeof value === "string" ? value : JSON.stringify(value)));
      info.appendChild(tr);
    }
    const stack = make("ol", "stack");
    for (const frame of answer.stack || []) stack.appendChild(make("li", "", frame));
    if (!stack.children.length) stack.appendChild(make("li", "muted", "(running, or no frame to show)"));
    let state;
    if ("state" in answer) state = make("pre", "state", JSON.stringify(answer.state, null, 2));
    else if (answer.state_error) state = make("p", "error", answer.state_error);
    else if (!answer.show_state) state = make("p", "muted", "hidden: start the observer with show_state=True to see states and messages");
    else state = make("p", "muted", "not a server: no state to show");
    const left = make("div");
    left.append(make("h3", "", "process_info"), info);
    if (answer.show_state) {
      const messages = make("ol", "messages");
      for (const message of answer.messages || []) messages.appendChild(make("li", "", message));
      if (answer.messages_error) messages.appendChild(make("li", "error", answer.messages_error));
      else if (!messages.children.length) messages.appendChild(make("li", "muted", "(mailbox empty)"));
      left.append(make("h3", "", "messages waiting (oldest first)"), messages);
    }
    const right = make("div");
    right.append(make("h3", "", "where it awaits (innermost last)"), stack, make("h3", "", "state"), state);
    const grid = make("div", "detail-grid");
    grid.append(left, right);
    detail.replaceChildren(grid);
  }

  // -- kill --------------------------------------------------------------------

  async function kill(node, pid) {
    if (!token) {
      say("enter the kill token first", true);
      return;
    }
    let response;
    try {
      response = await fetch("api/kill", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ node, pid, token }),
      });
    } catch (error) {
      say("kill failed: " + error, true);
      return;
    }
    const answer = await response.json().catch(() => ({}));
    if (response.ok) say(`killed ${answer.killed} on ${answer.node}`, false);
    else {
      say(`kill refused (${response.status}): ${answer.error || ""}`, true);
      if (response.status === 403) lock();
    }
  }

  function unlock(event) {
    event.preventDefault();
    token = $("#token").value.trim();
    if (!token) return;
    document.body.classList.add("unlocked");
    say("kill unlocked", false);
  }

  function lock() {
    token = "";
    $("#token").value = "";
    document.body.classList.remove("unlocked");
  }

  // -- the socket --------------------------------------------------------------

  function render(snapshot) {
    latest = snapshot;
    setText($("#updated"), "updated " + clock(snapshot.time) + " from " + snapshot.observer);
    setText($("#mode"), snapshot.show_state ? "states shown" : "states hidden");
    renderNodes(snapshot);
    renderTrees(snapshot);
    renderGlobals(snapshot);
    renderEvents(snapshot);
    renderProcesses(snapshot);
    renderSockets(snapshot);
    askDetail(); // the open detail follows the updates
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/ws");
    socket.onopen = () => {
      const status = $("#status");
      status.textContent = "connected";
      status.className = "status ok";
      detailAsked = false;
    };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "snapshot") render(message);
      else if (message.type === "process") renderDetail(message);
      else if (message.type === "error") say(message.error, true);
    };
    socket.onclose = () => {
      const status = $("#status");
      status.textContent = "disconnected: reconnecting";
      status.className = "status bad";
      setTimeout(connect, 1000);
    };
  }

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const killButton = target.closest("button.kill");
    if (killButton) {
      kill(killButton.dataset.node, killButton.dataset.pid);
      return;
    }
    const pid = target.closest("a.pid");
    if (pid && pid.dataset.pid) {
      showDetail(pid.dataset.node, pid.dataset.pid);
      return;
    }
    const th = target.closest("#processes th[data-sort]");
    if (th) {
      if (sortKey === th.dataset.sort) sortDescending = !sortDescending;
      else {
        sortKey = th.dataset.sort;
        sortDescending = NUMERIC.has(sortKey);
      }
      if (latest) renderProcesses(latest);
    }
  });
  $("#filter").addEventListener("input", () => latest && renderProcesses(latest));
  $("#show-system").addEventListener("change", (event) => {
    showSystem = event.target.checked;
    if (latest) render(latest);
  });
  $("#unlock").addEventListener("submit", unlock);
  $("#lock-button").addEventListener("click", lock);
  $("#detail-close").addEventListener("click", () => {
    detailOf = null;
    $("#detail-section").hidden = true;
  });
  connect();
})();
