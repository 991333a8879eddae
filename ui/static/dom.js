// dom: building elements without ever parsing HTML. Children that are not nodes become text
// nodes, so text from a model, a trainer or the database can never turn into markup.
import { t } from "./i18n.js";

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

// errorBox shows an API error with the field it names.
export function errorBox(err) {
  const where = err.field ? `${err.field}: ` : "";
  return h("p", { class: "error", role: "alert" }, where + (err.message || String(err)));
}

export function formatTime(s) {
  const d = new Date(s);
  return isNaN(d) ? "" : d.toLocaleString();
}

// showRendered puts a reply's HTML, as rendered and sanitised by the server (package render:
// goldmark with raw HTML off, then a bluemonday allow-list), into el. It is the one place the
// UI parses HTML; the page's Content-Security-Policy refuses inline script regardless.
export function showRendered(el, html) {
  el.innerHTML = html;
  el.classList.add("rendered");
}
