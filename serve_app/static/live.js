// The live connection to `/ws` (protocol: serve_app/live.py). One socket per tab,
// subscribed to every event; reconnects by itself and resumes after the last event seen.
// Each socket opens with a fresh single-use ticket, so the key never goes in a URL.

import { api } from "./api.js";

const HEARTBEAT_S = 10; // asked of the server; silence for 2.5x this means a dead socket
const BACKOFF_S = [1, 2, 4, 8, 15, 30];
const STOP_CODES = new Set([4401, 4403, 4400, 1009]); // reconnecting would not help

/**
 * Live events for this tab.
 *
 * `onEvent(event)` gets each event ({id, type, instrument, at, payload});
 * `onStatus(state, info)` gets "connecting", "open", "lost" ({retryIn}), "restart",
 * "stopped" ({code}); `onResync()` runs after a `lagged` (events were skipped: refetch).
 */
export class LiveFeed {
  constructor({ key, onEvent, onStatus, onResync }) {
    this.key = key;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onResync = onResync;
    this.lastEventId = null; // the page loads fresh state, so a new tab starts from now
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.timer = null;
    this.watchdog = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (this.socket?.close) this.socket.close(1000, "bye");
    this.socket = null;
  }

  async connect() {
    clearTimeout(this.timer);
    this.onStatus("connecting");
    let ticket;
    try {
      ({ ticket } = await api("/ws/ticket", { method: "POST", key: this.key }));
    } catch (err) {
      if (this.stopped) return;
      // A refused key ends it as a refused socket would; anything else is retried.
      const code = err.status === 401 || err.status === 403 ? 4000 + err.status : 1006;
      this.socket = { ticketFailed: true };
      this.closed(this.socket, code);
      return;
    }
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams({ ticket, heartbeat_s: String(HEARTBEAT_S) });
    const socket = new WebSocket(`${scheme}://${location.host}/ws?${params}`);
    this.socket = socket;
    socket.onopen = () => {
      // Resume in the subscribe message, not the URL: a replay by URL runs before this
      // subscription exists and would be filtered by the key's stored ones only.
      const subscribe = { type: "subscribe", instruments: [], events: [] };
      if (this.lastEventId != null) subscribe.last_event_id = this.lastEventId;
      socket.send(JSON.stringify(subscribe));
      this.petWatchdog();
    };
    socket.onmessage = (message) => this.receive(socket, message);
    socket.onclose = (event) => this.closed(socket, event.code);
  }

  receive(socket, message) {
    if (socket !== this.socket) return;
    this.petWatchdog();
    let data;
    try {
      data = JSON.parse(message.data);
    } catch {
      return;
    }
    if (data.type === "subscribed") {
      this.attempt = 0;
      this.onStatus("open");
    } else if (data.type === "heartbeat") {
      this.seen(data.last_event_id);
    } else if (data.type === "lagged") {
      this.seen(data.last_event_id);
      this.onResync();
    } else if (typeof data.id === "number") {
      if (this.lastEventId != null && data.id <= this.lastEventId) return; // a replayed repeat
      this.seen(data.id);
      this.onEvent(data);
    }
  }

  seen(id) {
    if (typeof id !== "number" || (this.lastEventId != null && id <= this.lastEventId)) return;
    this.lastEventId = id;
  }

  petWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.socket?.close(4000, "silent"), HEARTBEAT_S * 2500);
  }

  closed(socket, code) {
    if (socket !== this.socket || this.stopped) return;
    clearTimeout(this.watchdog);
    this.socket = null;
    if (STOP_CODES.has(code)) {
      this.stopped = true;
      this.onStatus("stopped", { code });
      return;
    }
    if (code === 1012) {
      this.onStatus("restart"); // a replica drains: another one answers at once
      this.timer = setTimeout(() => this.connect(), 300);
      return;
    }
    const wait = BACKOFF_S[Math.min(this.attempt, BACKOFF_S.length - 1)];
    this.attempt += 1;
    this.onStatus("lost", { retryIn: wait });
    this.timer = setTimeout(() => this.connect(), wait * 1000);
  }
}
