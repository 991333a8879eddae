// dom: building elements without ever parsing HTML. Children that are not nodes become text
// nodes, so text from a model, a trainer or the database can never turn into markup.
import { locale, t } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "i18n") {
      el.dataset.i18n = v;
      el.textContent = t(v);
    } else if (k === "dataset") Object.assign(el.dataset, v);
    // Styles go through the CSSOM: the CSP refuses inline style attributes.
    else if (k === "style") Object.assign(el.style, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value" || k === "checked" || k === "selected" || k === "disabled") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of [children].flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// replace swaps el's children, skipping null and false as h() does (replaceChildren would
// write them out as the text "null").
export function replace(el, ...children) {
  return append(clear(el), children);
}

// field wraps a labelled form control.
export function field(labelKey, control, hintKey) {
  return h("label", { class: "field" }, h("span", { i18n: labelKey }), control, hintKey ? h("small", { i18n: hintKey }) : null);
}

// errorBox shows an API error with the field it names, for errors shown apart from their
// control (at the top of a page, say). The server's message is already in the user's
// language: api.js and ws.js tell it which one.
export function errorBox(err) {
  const msg = err.message || String(err);
  const where = err.field && !msg.startsWith(`${err.field}: `) ? `${err.field}: ` : "";
  return h("p", { class: "error", role: "alert" }, where + msg);
}

// fieldPaths lists a JSON path and its parents, most specific first:
// "plan[0].model" gives "plan[0].model", "plan[0]", "plan".
function fieldPaths(field) {
  const parts = field.split(/(?=[.[])/);
  return parts.map((_, i) => parts.slice(0, parts.length - i).join(""));
}

// controlFor finds the control in root that a field path names: an element marked
// data-field="path", or a form control named path, trying the path's parents too.
export function controlFor(root, field) {
  if (!root || !field) return null;
  for (const path of fieldPaths(field)) {
    const q = CSS.escape(path);
    const el = root.querySelector(`[data-field="${q}"]`) || root.querySelector(`[name="${q}"]:not([type="radio"])`);
    if (el) return el;
  }
  return null;
}

// clearErrors removes the errors showError put in root.
export function clearErrors(root) {
  root?.querySelectorAll(".field-error").forEach((e) => e.remove());
  root?.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

// showError shows err next to the control that caused it (err.field, searched in root), or in
// fallback when no control there matches. Errors shown before in root are cleared first.
// It returns the element showing the error.
export function showError(root, err, fallback) {
  clearErrors(root);
  const control = controlFor(root, err.field);
  if (!control) {
    if (fallback) replace(fallback, errorBox(err));
    return fallback;
  }
  if (fallback) clear(fallback);
  const msg = err.message || String(err);
  // Next to its control, the field's name would only repeat what the reader sees.
  const text = err.field && msg.startsWith(`${err.field}: `) ? msg.slice(err.field.length + 2) : msg;
  const box = h("p", { class: "error field-error", role: "alert", dataset: { for: err.field } }, text);
  const anchor = control.closest("label.field") || control;
  anchor.after(box);
  control.setAttribute("aria-invalid", "true");
  return box;
}

// formatNumber shows a number in the interface's language, with at most digits decimals
// (exactly digits when fixed is set, for scores that line up in a column).
export function formatNumber(x, digits = 0, fixed = false) {
  if (x == null || x === "" || isNaN(Number(x))) return "–";
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: fixed ? digits : 0 }).format(Number(x));
}

// languageName names a language tag (zh-CN, en) in the interface's language.
export function languageName(tag) {
  if (!tag) return "–";
  try {
    return new Intl.DisplayNames([locale()], { type: "language" }).of(tag) || tag;
  } catch {
    return tag;
  }
}

// term translates an API value (a kind, a scope, an action) through the catalog key
// prefix.value, falling back to the value itself for one the catalog does not know yet.
export function term(prefix, value) {
  const key = `${prefix}.${value}`;
  const s = t(key);
  return s === key ? value : s;
}

// formatTime shows a time in the interface's language (not the browser's).
export function formatTime(s) {
  const d = new Date(s);
  if (isNaN(d)) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(d);
}

// showRendered puts a reply's HTML, as rendered and sanitised by the server (package render:
// goldmark with raw HTML escaped as text, then a bluemonday allow-list), into el. It is the one place the
// UI parses HTML; the page's Content-Security-Policy refuses inline script regardless.
export function showRendered(el, html) {
  el.innerHTML = html;
  el.classList.add("rendered");
}
