// ws: the live-session websocket. It reconnects by itself and resumes the current turn from
// the last sequence number received per candidate, so a dropped connection loses nothing:
// - a command sent while the socket is not open (connecting, closing, closed) waits for the
//   next socket and goes out once it is open, after the resume; browsers drop a message sent
//   into a closing socket, with only a console line to say so;
// - a generate that went out but had no answer (its turn or error event) when the socket
//   dropped is answered here with an error event under its id: the server may or may not have
//   started it, and a second copy could start a second turn, so the page gives the trainer
//   the question back to ask again;
// - a socket the server closed for an ended session (1008) reconnects only if the session
//   still holds (GET /session); otherwise the page hears "session-ended";
// - reconnects back off from half a second to ten.
// The socket's URL names the interface's language (?lang=), in which the server writes its
// error events; a language change re-renders the page, which opens a new socket.
import { api } from "./api.js";
import { locale, t } from "./i18n.js";

const POLICY_VIOLATION = 1008; // the server's "session ended"
const RETRY_FIRST = 500;
const RETRY_MAX = 10000;

export class Live {
  // onEvent gets every server event; onState(state, reconnects), when given, hears the
  // socket's state ("connecting", "open", "reconnecting") and how many times it reopened.
  constructor(onEvent, { onState = () => {} } = {}) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastSeq = {};
    this.turnId = null;
    this.closed = false;
    this.queue = []; // commands waiting for an open socket
    this.unanswered = new Map(); // id -> generate sent on this socket with no answer yet
    this.retry = RETRY_FIRST;
    this.reconnects = 0;
    this.connect();
  }

  connect() {
    const lang = encodeURIComponent(locale());
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws?lang=${lang}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.onState(this.reconnects === 0 && !this.dropped ? "connecting" : "reconnecting", this.reconnects);
    ws.addEventListener("open", () => {
      if (ws !== this.ws || this.closed) return;
      if (this.dropped) this.reconnects++;
      this.retry = RETRY_FIRST;
      this.onState("open", this.reconnects);
      // The resume first: queued commands (a regenerate, a cancel) act on a turn the page
      // already follows again.
      if (this.turnId) this.write({ type: "resume", turn_id: this.turnId, after: this.lastSeq });
      for (const msg of this.queue.splice(0)) this.write(msg);
    });
    ws.addEventListener("message", (m) => {
      if (ws !== this.ws) return;
      const ev = JSON.parse(m.data);
      if (ev.candidate_id && ev.seq) this.lastSeq[ev.candidate_id] = ev.seq;
      if (ev.type === "turn") this.turnId = ev.turn_id;
      if (ev.id && (ev.type === "turn" || ev.type === "error")) this.unanswered.delete(ev.id);
      this.onEvent(ev);
    });
    ws.addEventListener("close", (e) => {
      if (ws !== this.ws || this.closed) return;
      this.dropped = true;
      for (const id of this.unanswered.keys()) {
        this.onEvent({ type: "error", id, code: "unavailable", message: t("train.connectionLost") });
      }
      this.unanswered.clear();
      this.onState("reconnecting", this.reconnects);
      if (e.code === POLICY_VIOLATION) {
        this.recheckSession();
        return;
      }
      this.later();
    });
  }

  // later opens a new socket after the current backoff, and backs off further.
  later() {
    const wait = this.retry * (0.75 + Math.random() / 2);
    this.retry = Math.min(this.retry * 2, RETRY_MAX);
    setTimeout(() => {
      if (!this.closed) this.connect();
    }, wait);
  }

  // recheckSession reconnects if the session the socket was closed for still holds: the
  // server closes a user's sockets to re-check them, and one that passes may connect again.
  async recheckSession() {
    try {
      await api("GET", "/session");
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        this.onEvent({ type: "session-ended" }); // api() has told the app too
        return;
      }
      // The server is out of reach: try the socket again, with the usual backoff.
    }
    this.later();
  }

  write(msg) {
    if (msg.type === "generate" && msg.id) this.unanswered.set(msg.id, msg);
    this.ws.send(JSON.stringify(msg));
  }

  // follow resumes a turn from the start (after a page reload): the client has nothing yet.
  // Without an open socket, the next one's resume does it.
  follow(turnId) {
    this.turnId = turnId;
    this.lastSeq = {};
    if (this.ws.readyState === WebSocket.OPEN) this.write({ type: "resume", turn_id: turnId, after: {} });
  }

  // send sends a command now, or as soon as a socket is open again. It returns at once.
  send(msg) {
    if (this.closed) return; // the page has gone
    if (this.ws.readyState === WebSocket.OPEN) this.write(msg);
    else this.queue.push(msg);
  }

  close() {
    this.closed = true;
    this.queue = [];
    const ws = this.ws;
    // A socket still connecting is closed once open: closing it before makes the browser log
    // an error ("closed before the connection is established") for what is only a page change.
    if (ws.readyState === WebSocket.CONNECTING) ws.addEventListener("open", () => ws.close(), { once: true });
    else ws.close();
  }
}
