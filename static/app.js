// fastwsd chat page. See the element contract at the top of index.html.
// Rule: every piece of text from the network or the user goes into the DOM through
// textContent / createTextNode / attributes, never through innerHTML.
'use strict';

(function () {
  const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
  const MAX_MESSAGES = 500;
  const MAX_USERS_SHOWN = 500;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const JITTER = 0.3;

  const $ = (id) => document.getElementById(id);
  const el = {
    connForm: $('conn-form'), clientId: $('client-id'), idError: $('id-error'),
    connect: $('connect'), disconnect: $('disconnect'), ping: $('ping'), rtt: $('rtt'),
    status: $('status'), notice: $('notice'),
    messages: $('messages'), composer: $('composer'), target: $('target'),
    message: $('message'), send: $('send'),
    users: $('users'), userCount: $('user-count'), usersMore: $('users-more'),
    roomsPanel: $('rooms-panel'), roomForm: $('room-form'), roomName: $('room-name'),
    joinRoom: $('join-room'), rooms: $('rooms'), roomError: $('room-error'),
  };

  const params = new URLSearchParams(location.search);
  const token = params.get('token');

  // ---- state -------------------------------------------------------------
  let ws = null;              // current WebSocket, or null
  let myId = '';              // id of the current / last connection
  let state = 'offline';      // offline | connecting | online | reconnecting
  let userStopped = true;     // user pressed Disconnect (or never connected)
  let attempt = 0;            // reconnect attempts since the last successful open
  let reconnectTimer = null;
  let countdownTimer = null;
  let reconnectAt = 0;
  let autoReconnecting = false;

  const users = new Set();
  let userCount = 0;
  let usersSnapshotPending = false;
  let eventsDuringSnapshot = [];

  const rooms = new Map();    // room name -> member count
  let rejoin = [];            // rooms to join again after an automatic reconnect
  let joinsPending = 0;
  let roomsSupported = true;

  let target = '';            // "" | "user:ID" | "room:NAME"
  const pingsInFlight = [];

  // ---- helpers -----------------------------------------------------------
  function validateId(s, what) {
    if (s.length === 0) return `Enter ${what} (1–64 characters).`;
    if (s.length > 64) return `Too long: ${s.length} characters, at most 64.`;
    if (!ID_RE.test(s)) {
      const bad = [...new Set(Array.from(s).filter((c) => !/[A-Za-z0-9_.-]/.test(c)))];
      const shown = bad.slice(0, 5).map((c) => (c === ' ' ? 'space' : `"${c}"`)).join(', ');
      return `Not allowed in ${what}: ${shown}. Use letters A–Z a–z, digits, _ - . only.`;
    }
    return '';
  }

  function randomId() {
    const a = new Uint32Array(1);
    crypto.getRandomValues(a);
    return 'user-' + (1000 + (a[0] % 9000));
  }

  function pad2(n) { return String(n).padStart(2, '0'); }

  function parseTimestamp(ts) {
    if (typeof ts !== 'string') return null;
    // Trim microseconds to milliseconds so every engine parses it.
    const d = new Date(ts.replace(/(\.\d{3})\d+/, '$1'));
    return isNaN(d.getTime()) ? null : d;
  }

  function timeNode(ts) {
    const t = document.createElement('time');
    t.className = 'time';
    const d = ts instanceof Date ? ts : parseTimestamp(ts);
    if (d) {
      t.textContent = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
      t.dateTime = typeof ts === 'string' ? ts : d.toISOString();
      t.title = d.toLocaleString();
    } else {
      t.textContent = typeof ts === 'string' ? ts : '';
    }
    return t;
  }

  function dataText(data) {
    if (data !== null && typeof data === 'object' && !Array.isArray(data) &&
        typeof data.text === 'string') return data.text;
    try { return JSON.stringify(data === undefined ? null : data); } catch (e) { return String(data); }
  }

  function span(cls, text) {
    const s = document.createElement('span');
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function setNotice(text, kind) {
    el.notice.textContent = text;
    el.notice.dataset.kind = kind || 'info';
  }

  // ---- message list ------------------------------------------------------
  // opts: kind, sender, time (timestamp string or Date), text, mine, direction, to, room, type
  function addMessage(opts) {
    const list = el.messages;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;

    const li = document.createElement('li');
    li.className = 'msg';
    li.dataset.kind = opts.kind;
    if (opts.type) li.dataset.type = opts.type;
    if (opts.mine) li.classList.add('mine');
    if (opts.direction) li.dataset.direction = opts.direction;
    if (opts.room != null) li.dataset.room = opts.room;

    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.appendChild(span('sender', opts.sender));
    if (opts.kind === 'private') {
      if (opts.direction === 'out') meta.appendChild(span('to', `to ${opts.to}`));
      else meta.appendChild(span('tag', 'private'));
    }
    if (opts.kind === 'room') meta.appendChild(span('room', `#${opts.room}`));
    meta.appendChild(timeNode(opts.time));
    li.appendChild(meta);

    const body = document.createElement('div');
    body.className = 'text';
    body.textContent = opts.text;
    li.appendChild(body);

    list.appendChild(li);
    while (list.childElementCount > MAX_MESSAGES) list.removeChild(list.firstElementChild);
    if (nearBottom || opts.mine) list.scrollTop = list.scrollHeight;
  }

  // ---- users -------------------------------------------------------------
  function applyUserEvent(type, data) {
    if (!data || typeof data.user_id !== 'string') return;
    if (type === 'user_joined') users.add(data.user_id);
    else if (data.user_id !== myId || state !== 'online') users.delete(data.user_id);  // a replaced twin of ours leaving
    if (typeof data.count === 'number') userCount = data.count;
    else userCount = users.size;
  }

  function renderUsers() {
    const sorted = Array.from(users).sort((a, b) => a.localeCompare(b));
    if (myId && users.has(myId)) {         // own id first
      sorted.splice(sorted.indexOf(myId), 1);
      sorted.unshift(myId);
    }
    const frag = document.createDocumentFragment();
    for (const id of sorted.slice(0, MAX_USERS_SHOWN)) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'user';
      b.dataset.id = id;
      b.textContent = id;
      if (id === myId) {
        b.classList.add('self');
        b.disabled = true;
        b.setAttribute('aria-label', `${id} (you)`);
      } else {
        const sel = target === `user:${id}`;
        b.setAttribute('aria-pressed', sel ? 'true' : 'false');
        b.setAttribute('aria-label', sel ? `${id}, selected for private messages` : `Message ${id} privately`);
      }
      li.appendChild(b);
      frag.appendChild(li);
    }
    el.users.replaceChildren(frag);
    const extra = sorted.length - MAX_USERS_SHOWN;
    el.usersMore.hidden = extra <= 0;
    el.usersMore.textContent = extra > 0 ? `and ${extra} more` : '';
    el.userCount.textContent = String(state === 'online' ? userCount : users.size);
    renderTargets();
  }

  function fetchClients(sock) {
    usersSnapshotPending = true;
    eventsDuringSnapshot = [];
    fetch('/clients', { cache: 'no-store', headers: { Accept: 'application/json' } })
      .then((r) => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.json(); })
      .then((j) => {
        if (sock !== ws) return;
        users.clear();
        if (j && Array.isArray(j.clients)) for (const id of j.clients) if (typeof id === 'string') users.add(id);
        userCount = j && typeof j.count === 'number' ? j.count : users.size;
        // Events that arrived while the snapshot was in flight are replayed in order:
        // the last event per user wins, which is right whichever side of them the snapshot fell.
        for (const [type, data] of eventsDuringSnapshot) applyUserEvent(type, data);
      })
      .catch((e) => { if (sock === ws) setNotice(`Could not load the user list (${e.message}).`, 'warn'); })
      .finally(() => {
        if (sock !== ws) return;
        usersSnapshotPending = false;
        eventsDuringSnapshot = [];
        users.add(myId);
        if (userCount < users.size) userCount = users.size;
        renderUsers();
      });
  }

  // ---- rooms -------------------------------------------------------------
  function renderRooms() {
    const frag = document.createDocumentFragment();
    for (const name of Array.from(rooms.keys()).sort((a, b) => a.localeCompare(b))) {
      const li = document.createElement('li');
      li.className = 'room';
      li.dataset.room = name;
      const sel = target === `room:${name}`;
      if (sel) li.classList.add('selected');

      const pick = document.createElement('button');
      pick.type = 'button';
      pick.className = 'room-select';
      pick.textContent = `#${name}`;
      pick.setAttribute('aria-pressed', sel ? 'true' : 'false');
      pick.setAttribute('aria-label', sel ? `Room ${name}, selected as target` : `Send to room ${name}`);
      li.appendChild(pick);

      const count = span('room-count', String(rooms.get(name)));
      count.title = 'members';
      count.setAttribute('aria-label', `${rooms.get(name)} members`);
      li.appendChild(count);

      const leave = document.createElement('button');
      leave.type = 'button';
      leave.className = 'leave';
      leave.textContent = 'Leave';
      leave.setAttribute('aria-label', `Leave room ${name}`);
      leave.disabled = state !== 'online';
      li.appendChild(leave);
      frag.appendChild(li);
    }
    el.rooms.replaceChildren(frag);
    renderTargets();
  }

  function joinRoom(name) {
    if (!sendJson({ type: 'join', room: name })) return false;
    joinsPending++;
    return true;
  }

  function hideRooms() {
    roomsSupported = false;
    el.roomsPanel.hidden = true;
    rooms.clear();
    rejoin = [];
    joinsPending = 0;
    if (target.startsWith('room:')) target = '';
    renderRooms();
    setNotice('This server does not support rooms; the rooms panel is hidden.', 'warn');
  }

  // ---- target selector ---------------------------------------------------
  function option(value, label) {
    const o = document.createElement('option');
    o.value = value;
    o.textContent = label;
    return o;
  }

  function renderTargets() {
    const frag = document.createDocumentFragment();
    frag.appendChild(option('', 'everyone'));
    let found = target === '';

    const others = Array.from(users).filter((u) => u !== myId).sort((a, b) => a.localeCompare(b))
      .slice(0, MAX_USERS_SHOWN);
    if (others.length) {
      const g = document.createElement('optgroup');
      g.label = 'Private to';
      for (const u of others) {
        g.appendChild(option(`user:${u}`, u));
        if (target === `user:${u}`) found = true;
      }
      frag.appendChild(g);
    }
    if (roomsSupported && rooms.size) {
      const g = document.createElement('optgroup');
      g.label = 'Room';
      for (const r of Array.from(rooms.keys()).sort((a, b) => a.localeCompare(b))) {
        g.appendChild(option(`room:${r}`, `#${r}`));
        if (target === `room:${r}`) found = true;
      }
      frag.appendChild(g);
    }
    // Never switch the target to "everyone" behind the user's back (a private text
    // would go public): keep a target that went away, marked as such.
    if (!found) {
      const [kind, name] = splitTarget(target);
      frag.appendChild(option(target, kind === 'user' ? `${name} (offline)` : `#${name} (not joined)`));
    }
    el.target.replaceChildren(frag);
    el.target.value = target;
    el.target.dataset.kind = splitTarget(target)[0] || 'everyone';
  }

  function splitTarget(t) {
    const i = t.indexOf(':');
    return i < 0 ? ['', ''] : [t.slice(0, i), t.slice(i + 1)];
  }

  function setTarget(t) {
    target = t;
    renderUsers();   // also renders the target selector
    renderRooms();
  }

  // ---- connection --------------------------------------------------------
  function setState(s, text) {
    state = s;
    el.status.dataset.state = s;
    el.status.textContent = text || s;
    const busy = s === 'connecting' || s === 'online';
    el.clientId.disabled = s !== 'offline';
    el.connect.disabled = busy;
    el.disconnect.disabled = s === 'offline';
    const online = s === 'online';
    el.ping.disabled = !online;
    el.message.disabled = !online;
    el.send.disabled = !online;
    el.joinRoom.disabled = !online;
    for (const b of el.rooms.querySelectorAll('button.leave')) b.disabled = !online;
    document.body.dataset.state = s;
  }

  function clearReconnect() {
    if (reconnectTimer) clearTimeout(reconnectTimer);
    if (countdownTimer) clearInterval(countdownTimer);
    reconnectTimer = countdownTimer = null;
  }

  function scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, attempt));
    const delay = Math.max(100, Math.round(base * (1 + (Math.random() * 2 - 1) * JITTER)));
    attempt++;
    reconnectAt = Date.now() + delay;
    const tick = () => {
      const s = Math.max(0, Math.ceil((reconnectAt - Date.now()) / 1000));
      setState('reconnecting', `offline, reconnecting in ${s}s`);
    };
    tick();
    countdownTimer = setInterval(tick, 250);
    reconnectTimer = setTimeout(() => {
      clearReconnect();
      connect(true);
    }, delay);
  }

  function wsUrl(id) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${scheme}//${location.host}/ws/${encodeURIComponent(id)}`;
    if (token) url += `?token=${encodeURIComponent(token)}`;
    return url;
  }

  function connect(auto) {
    clearReconnect();
    const id = el.clientId.value.trim();
    el.clientId.value = id;
    const why = validateId(id, 'your id');
    showIdError(why);
    if (why) {
      userStopped = true;
      setState('offline');
      el.clientId.focus();
      return;
    }
    if (ws) { const old = ws; ws = null; try { old.close(1000, 'reconnect'); } catch (e) { /* ignore */ } }
    try { sessionStorage.setItem('fastwsd-id', id); } catch (e) { /* storage may be off */ }

    if (!auto) {            // a fresh session: forget rooms and any private/room target
      rejoin = [];
      target = '';
    }
    myId = id;
    userStopped = false;
    autoReconnecting = !!auto;
    setState('connecting', 'connecting…');

    let sock;
    try {
      sock = new WebSocket(wsUrl(id));
    } catch (e) {
      setNotice(`Cannot connect: ${e.message}`, 'error');
      userStopped = true;
      setState('offline');
      return;
    }
    ws = sock;
    sock.openedAt = 0;

    sock.onopen = () => {
      if (sock !== ws) return;
      sock.openedAt = Date.now();
      attempt = 0;
      setState('online');
      setNotice(`Connected as ${id}.`, 'ok');
      users.clear();
      users.add(id);
      userCount = 1;
      rooms.clear();
      pingsInFlight.length = 0;
      renderUsers();
      renderRooms();
      fetchClients(sock);
      if (autoReconnecting && roomsSupported) for (const r of rejoin) joinRoom(r);
      rejoin = [];
      el.message.focus();
    };

    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      if (typeof ev.data !== 'string') return;
      let env;
      try { env = JSON.parse(ev.data); } catch (e) {
        addMessage({ kind: 'error', sender: 'client', time: new Date(), text: 'unparseable frame from server' });
        return;
      }
      if (env && typeof env === 'object') handleEnvelope(env);
    };

    sock.onerror = () => { /* the close event follows and says everything we know */ };

    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      const wasOpen = sock.openedAt > 0;
      if (wasOpen && rooms.size) rejoin = Array.from(rooms.keys());
      users.clear();
      userCount = 0;
      rooms.clear();
      joinsPending = 0;
      pingsInFlight.length = 0;
      renderUsers();
      renderRooms();

      const reason = ev.reason ? ` ${ev.reason}` : '';
      const codeText = `code ${ev.code}${reason}`;
      if (userStopped) {
        setNotice(`Disconnected (${codeText}).`, 'info');
        setState('offline');
        rejoin = [];
      } else if (ev.code === 4001) {
        userStopped = true;
        rejoin = [];
        setNotice(`Closed (${codeText}): another connection took the id "${id}". Not reconnecting.`, 'error');
        setState('offline');
      } else {
        const what = wasOpen ? `Connection closed (${codeText}).`
          : `Could not connect (${codeText}): server unreachable, or it refused the id or token.`;
        setNotice(what, 'warn');
        scheduleReconnect();
      }
    };
  }

  function disconnect() {
    userStopped = true;
    rejoin = [];
    clearReconnect();
    if (ws) {
      setState('offline', 'offline');
      try { ws.close(1000, 'bye'); } catch (e) { /* ignore */ }
    } else {
      setState('offline');
      setNotice('Disconnected.', 'info');
    }
  }

  function sendJson(obj) {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      setNotice('Not connected.', 'warn');
      return false;
    }
    ws.send(JSON.stringify(obj));
    return true;
  }

  // ---- incoming envelopes ------------------------------------------------
  function handleEnvelope(env) {
    const type = typeof env.type === 'string' ? env.type : '';
    const data = env.data === undefined ? null : env.data;
    const from = typeof env.client_id === 'string' ? env.client_id : null;
    const ts = env.timestamp;
    const room = typeof env.room === 'string' ? env.room : null;

    switch (type) {
      case 'chat':
        addMessage({ kind: 'chat', sender: from || 'server', time: ts, text: dataText(data), mine: from === myId });
        break;

      case 'private':
        addMessage({ kind: 'private', direction: 'in', sender: from || 'server', time: ts, text: dataText(data) });
        break;

      case 'room':
        addMessage({ kind: 'room', sender: from || 'server', time: ts, room: room || (data && data.room) || '',
          text: dataText(data), mine: from === myId });
        break;

      case 'pong': {
        const sent = pingsInFlight.shift();
        if (sent !== undefined) el.rtt.textContent = `${Math.max(0, Math.round(performance.now() - sent))} ms`;
        break;
      }

      case 'user_joined':
      case 'user_left': {
        if (usersSnapshotPending) eventsDuringSnapshot.push([type, data]);
        applyUserEvent(type, data);
        renderUsers();
        const who = data && typeof data.user_id === 'string' ? data.user_id : '?';
        const n = data && typeof data.count === 'number' ? ` (${data.count} online)` : '';
        addMessage({ kind: 'system', type, sender: 'server', time: ts,
          text: `${who} ${type === 'user_joined' ? 'joined' : 'left'}${n}` });
        break;
      }

      case 'room_joined':
      case 'room_left': {
        const r = data && typeof data.room === 'string' ? data.room : room;
        const who = data && typeof data.user_id === 'string' ? data.user_id : '?';
        const count = data && typeof data.count === 'number' ? data.count : null;
        if (r) {
          if (type === 'room_joined') {
            if (who === myId) {
              if (joinsPending > 0) joinsPending--;
              rooms.set(r, count != null ? count : 1);
            } else if (rooms.has(r) && count != null) rooms.set(r, count);
          } else if (who === myId) {
            rooms.delete(r);
          } else if (rooms.has(r) && count != null) {
            rooms.set(r, count);
          }
          renderRooms();
        }
        const verb = type === 'room_joined' ? 'joined' : 'left';
        const n = count != null ? ` (${count} member${count === 1 ? '' : 's'})` : '';
        addMessage({ kind: 'system', type, sender: 'server', time: ts, room: r,
          text: `${who === myId ? 'you' : who} ${verb} #${r || '?'}${n}` });
        break;
      }

      case 'error': {
        const code = data && typeof data.code === 'string' ? data.code : 'error';
        const msg = data && typeof data.error === 'string' ? data.error : dataText(data);
        addMessage({ kind: 'error', sender: 'server', time: ts, text: `${code}: ${msg}` });
        if (code === 'unknown_type' && joinsPending > 0 && roomsSupported) hideRooms();
        break;
      }

      default:
        addMessage({ kind: 'system', type: type || 'unknown', sender: from || 'server', time: ts,
          text: `${type || '(no type)'}: ${dataText(data)}` });
    }
  }

  // ---- sending -----------------------------------------------------------
  function sendMessage() {
    const text = el.message.value;
    if (!text.trim()) return;
    const [kind, name] = splitTarget(target);
    let ok;
    if (kind === 'user') {
      ok = sendJson({ type: 'private', recipient_id: name, data: { text } });
      // The server does not echo privates to the sender: show our own copy.
      if (ok) addMessage({ kind: 'private', direction: 'out', sender: myId, to: name, time: new Date(), text, mine: true });
    } else if (kind === 'room') {
      ok = sendJson({ type: 'room', room: name, data: { text } });
    } else {
      ok = sendJson({ type: 'chat', data: { text } });
    }
    if (ok) el.message.value = '';
    el.message.focus();
  }

  function showIdError(msg) {
    el.idError.textContent = msg;
    el.clientId.setAttribute('aria-invalid', msg ? 'true' : 'false');
  }

  // ---- wiring ------------------------------------------------------------
  el.connForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (state === 'connecting' || state === 'online') return;
    const now = state === 'reconnecting';   // "connect now" while a reconnect is pending
    attempt = 0;
    connect(now);
  });
  el.disconnect.addEventListener('click', disconnect);
  el.clientId.addEventListener('input', () => {
    // Clear a stale error as soon as the text becomes valid; full message on Connect.
    if (el.idError.textContent && !validateId(el.clientId.value.trim(), 'your id')) showIdError('');
  });

  el.ping.addEventListener('click', () => {
    if (sendJson({ type: 'ping' })) {
      pingsInFlight.push(performance.now());
      el.rtt.textContent = '…';
    }
  });

  el.composer.addEventListener('submit', (e) => { e.preventDefault(); sendMessage(); });
  el.target.addEventListener('change', () => setTarget(el.target.value));

  el.users.addEventListener('click', (e) => {
    const b = e.target.closest('.user');
    if (!b || b.disabled || !el.users.contains(b)) return;
    const t = `user:${b.dataset.id}`;
    setTarget(target === t ? '' : t);
  });

  el.roomForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = el.roomName.value.trim();
    const why = validateId(name, 'the room name');
    el.roomError.textContent = why;
    el.roomName.setAttribute('aria-invalid', why ? 'true' : 'false');
    if (why) { el.roomName.focus(); return; }
    if (joinRoom(name)) el.roomName.value = '';
  });
  el.roomName.addEventListener('input', () => {
    el.roomName.setAttribute('aria-invalid', 'false');
    el.roomError.textContent = '';
  });

  el.rooms.addEventListener('click', (e) => {
    const li = e.target.closest('.room');
    if (!li || !el.rooms.contains(li)) return;
    const name = li.dataset.room;
    if (e.target.closest('.leave')) {
      sendJson({ type: 'leave', room: name });
      if (target === `room:${name}`) setTarget('');
    } else if (e.target.closest('.room-select')) {
      const t = `room:${name}`;
      setTarget(target === t ? '' : t);
    }
  });

  // ---- start -------------------------------------------------------------
  let initial = params.get('id');
  if (!initial) { try { initial = sessionStorage.getItem('fastwsd-id'); } catch (e) { initial = null; } }
  el.clientId.value = initial || randomId();
  setState('offline');
  renderUsers();
  renderRooms();
})();
