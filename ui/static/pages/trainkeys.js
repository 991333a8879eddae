import { h } from "../dom.js";
import { locale, t } from "../i18n.js";

// scoreFor reads a digit key as a score on rubric dimension d's scale, or null when the
// digit is off the scale; 0 means 10 on a scale that has 10 but not 0. The train screen's
// and the work screen's `s` modes both read scores with it.
export function scoreFor(d, key) {
  let v = Number(key);
  if (v === 0 && d.scale_min > 0 && d.scale_max >= 10) v = 10;
  return v >= d.scale_min && v <= d.scale_max ? v : null;
}

// keysHelp is the training screen's keyboard reference, shown with ? (and hidden with ? or
// Esc). It is built from the catalogs, so it reads in the interface's language, and it names
// this persona's rubric dimensions and the flags by the numbers the keys use.
export function keysHelp(rubric, flags) {
  const numbered = (names) => names.map((name, i) => `${i + 1} ${name}`).join(" · ");
  const dims = numbered(rubric.map((d) => (locale() === "en" ? d.label_en : d.label)));
  const rows = [
    ["keys.help.keys", "keys.help"],
    ["keys.move.keys", "keys.move"],
    ["keys.rank.keys", "keys.rank"],
    ["keys.score.keys", "keys.score", { dims }],
    ["keys.flag.keys", "keys.flag", { flags: numbered(flags.map((f) => t(`flag.${f}`))) }],
    ["keys.continue.keys", "keys.continue"],
    ["keys.edit.keys", "keys.edit"],
    ["keys.gold.keys", "keys.gold"],
    ["keys.passages.keys", "keys.passages"],
    ["keys.regenerate.keys", "keys.regenerate"],
    ["keys.generate.keys", "keys.generate"],
    ["keys.submit.keys", "keys.submit"],
  ];
  const close = h("button", { type: "button", class: "link", id: "keys-help-close", i18n: "keys.close" });
  const el = h("aside", { class: "keys-help", id: "keys-help", role: "dialog", "aria-labelledby": "keys-help-title", hidden: true },
    h("div", { class: "keys-help-head" }, h("h2", { id: "keys-help-title", i18n: "keys.title" }), close),
    h("table", { class: "table" }, h("tbody", {}, rows.map(([keys, what, params]) =>
      h("tr", {}, h("th", {}, h("kbd", {}, t(keys))), h("td", {}, t(what, params)))))));
  const toggle = (show = el.hidden) => {
    el.hidden = !show;
  };
  close.addEventListener("click", () => toggle(false));
  return { el, toggle, open: () => !el.hidden };
}
