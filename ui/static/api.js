// api: JSON calls to /api/v1 and server-sent event streams, with errors that keep the
// server's field and message. Writes carry the session's CSRF token, and every call names
// the interface's language, in which the server writes its error messages.
import { locale } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code;
    this.field = e.field;
    this.key = e.key; // the message's stable key and its parameters, beside the localised text
    this.params = e.params;
  }
}

let csrfToken = "";
let onSignedOut = () => {};

export function setCsrfToken(token) {
  csrfToken = token || "";
}

// whenSignedOut registers what to do when the server says the session has ended.
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

function headers(method, extra) {
  const h = { Accept: "application/json", "Accept-Language": locale(), ...extra };
  if (method !== "GET" && csrfToken) h["X-CSRF-Token"] = csrfToken;
  return h;
}

async function failure(res) {
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  const err = new ApiError(res.status, data);
  if (res.status === 401) onSignedOut(err);
  return err;
}

// api calls the JSON API; a signal (from an AbortController) cancels the request, which on
// the server cancels the work it started.
export async function api(method, path, body, signal) {
  const opts = { method, headers: headers(method, {}), signal };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(`/api/v1${path}`, opts);
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// stream POSTs body and calls onEvent(name, data) for each server-sent event until the
// stream ends or signal aborts it.
export async function stream(path, body, onEvent, signal) {
  const res = await fetch(`/api/v1${path}`, {
    method: "POST",
    headers: headers("POST", { "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw await failure(res);
  await readEvents(res, onEvent);
}

// follow GETs a server-sent event stream (a live campaign item's candidates, issue 13) and
// calls onEvent(name, data) for each event until it ends or signal aborts it.
export async function follow(path, onEvent, signal) {
  const res = await fetch(`/api/v1${path}`, { headers: headers("GET", { Accept: "text/event-stream" }), signal });
  if (!res.ok) throw await failure(res);
  await readEvents(res, onEvent);
}

async function readEvents(res, onEvent) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

// upload POSTs files as multipart/form-data (field "files") and returns the JSON answer.
export async function upload(path, files, query = {}) {
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v)).toString();
  const res = await fetch(`/api/v1${path}${qs ? `?${qs}` : ""}`, { method: "POST", headers: headers("POST", {}), body: form });
  if (!res.ok) throw await failure(res);
  return res.json();
}
