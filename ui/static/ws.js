// ws: the live-session websocket. It reconnects by itself and resumes the current turn from
// the last sequence number received per candidate, so a dropped connection loses nothing.
// The socket's URL names the interface's language (?lang=), in which the server writes its
// error events; a language change re-renders the page, which opens a new socket.
import { locale } from "./i18n.js";

export class Live {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.lastSeq = {};
    this.turnId = null;
    this.closed = false;
    this.connect();
  }

  connect() {
    const lang = encodeURIComponent(locale());
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/ws?lang=${lang}`;
    this.ws = new WebSocket(url);
    this.ready = new Promise((resolve) => this.ws.addEventListener("open", resolve, { once: true }));
    this.ws.addEventListener("message", (m) => {
      const ev = JSON.parse(m.data);
      if (ev.candidate_id && ev.seq) this.lastSeq[ev.candidate_id] = ev.seq;
      if (ev.type === "turn") this.turnId = ev.turn_id;
      this.onEvent(ev);
    });
    this.ws.addEventListener("close", (e) => {
      if (this.closed) return;
      if (e.code === 1008) {
        this.onEvent({ type: "session-ended" });
        return;
      }
      setTimeout(() => this.reconnect(), 1000);
    });
  }

  async reconnect() {
    if (this.closed) return;
    this.connect();
    await this.ready;
    if (this.turnId) this.send({ type: "resume", turn_id: this.turnId, after: this.lastSeq });
  }

  // follow resumes a turn from the start (after a page reload): the client has nothing yet.
  follow(turnId) {
    this.turnId = turnId;
    this.lastSeq = {};
    this.send({ type: "resume", turn_id: turnId, after: {} });
  }

  async send(msg) {
    await this.ready;
    this.ws.send(JSON.stringify(msg));
  }

  close() {
    this.closed = true;
    this.ws.close();
  }
}
