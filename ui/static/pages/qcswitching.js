// qcswitching: the switching rules of GB/T 2828.1 on the QC page (issue 14): the campaign's
// "reduced inspection allowed" setting, where each base stands (normal, tightened, reduced
// or discontinued), why, since which batch and what would switch it next, and the notes a
// project admin records of what the batches cannot show (production became irregular; a
// discontinued inspection resumes). The server computes every state: this only shows it.
import { api } from "../api.js";
import { formatNumber, formatTime, h, replace, showError } from "../dom.js";
import { t } from "../i18n.js";
import { can, session } from "../session.js";

// reducedSetting is the campaign's reduced_allowed: a toggle for the project's admins (the
// PUT's rule), text for anyone else. The PUT replaces batch_every too, so the settings go
// back whole with only reduced_allowed changed; saved, the page is drawn again, because
// the setting moves bases between normal and reduced inspection.
export function reducedSetting(campaign, settings, reload) {
  const on = !!settings.reduced_allowed;
  if (!can(campaign.project_id, "project.manage")) {
    return h("p", { id: "qc-reduced", dataset: { allowed: String(on) } }, t(on ? "qc.reduced.allowed" : "qc.reduced.notAllowed"));
  }
  const box = h("input", { type: "checkbox", id: "qc-reduced-toggle", checked: on, dataset: { field: "reduced_allowed" } });
  const status = h("div", { id: "qc-reduced-status" });
  const card = h("div", { class: "card inline-form", id: "qc-reduced", dataset: { allowed: String(on) } },
    h("label", { class: "check" }, box, " ", h("span", { i18n: "qc.reduced.toggle" })),
    h("small", { class: "muted", i18n: "qc.reduced.hint" }), status);
  box.addEventListener("change", async () => {
    box.disabled = true;
    try {
      await api("PUT", `/campaigns/${campaign.id}/qc/settings`, { ...settings, reduced_allowed: box.checked });
    } catch (err) {
      box.checked = on;
      box.disabled = false;
      showError(card, err, status);
      return;
    }
    await reload();
  });
  return card;
}

// nextSwitches says what would switch a base next, in the counts the server keeps.
function nextSwitches(sw) {
  const n = (x) => formatNumber(x);
  switch (sw.state) {
    case "normal":
      return [
        t("qc.next.tighten", { n: n(sw.rejected_of_last_five) }),
        sw.reduced_allowed ? t("qc.next.reduce", { left: n(Math.max(0, 30 - sw.switching_score)) }) : t("qc.next.reduceOff"),
      ];
    case "tightened":
      return [t("qc.next.relax", { n: n(sw.accepted_in_row) }), t("qc.next.discontinue", { n: n(sw.rejected_on_tightened) })];
    case "reduced":
      return [t("qc.next.unreduce")];
    default:
      return [t("qc.next.resume")];
  }
}

// noteKind is the note a base's state allows: irregular on normal or reduced inspection,
// resumed when discontinued (the server refuses the rest, naming kind).
const noteKind = (state) => (state === "discontinued" ? "resumed" : state === "normal" || state === "reduced" ? "irregular" : null);

// noteList lists the switching notes recorded for a base, newest first.
const noteList = (notes) => (notes.length ? h("ul", { class: "muted", dataset: { role: "notes" } }, notes.map((n) =>
  h("li", { dataset: { kind: n.kind } }, t(`qc.note.entry.${n.kind}`, { at: formatTime(n.created_at), by: n.by, seq: formatNumber(n.after_seq) }),
    n.note ? `：${n.note}` : ""))) : null);

// baseSwitching is one base's card, with the notes recorded for it. After a note it is drawn
// again from the server's answer, with a line saying what was recorded and the new note
// first in the list.
function baseSwitching(campaign, base, sw, notes, done = null) {
  const card = h("section", { class: "card qc-switching", dataset: { base: base.id, state: sw.state } });
  const status = h("div", { dataset: { role: "status" } });
  const kind = can(campaign.project_id, "project.manage") ? noteKind(sw.state) : null;
  let button = null;
  if (kind) {
    button = h("button", { type: "button", class: kind === "irregular" ? "secondary" : "", dataset: { role: `note-${kind}` }, i18n: `qc.note.${kind}` });
    button.addEventListener("click", () => {
      button.hidden = true;
      const note = h("textarea", { rows: 2, dataset: { field: "note" }, placeholder: t("qc.note.why"), "data-i18n-placeholder": "qc.note.why" });
      const yes = h("button", { type: "button", dataset: { role: "confirm" }, i18n: "qc.note.confirm" });
      const no = h("button", { type: "button", class: "secondary", dataset: { role: "cancel" }, i18n: "qc.note.cancel" });
      const ask = h("div", { class: "inline-form", dataset: { role: "confirming", kind } },
        h("p", {}, t(`qc.note.ask.${kind}.${sw.state}`, { base: base.name })),
        h("label", { class: "field" }, h("span", { i18n: "qc.note.whyLabel" }), note), h("div", { class: "row" }, yes, no));
      no.addEventListener("click", () => {
        ask.remove();
        button.hidden = false;
      });
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        let now;
        try {
          now = await api("POST", `/campaigns/${campaign.id}/qc/switching-notes`, { base_id: base.id, kind, note: note.value });
        } catch (err) {
          yes.disabled = false;
          showError(ask, err, status);
          return;
        }
        const mine = { kind, note: note.value, by: session()?.user?.display_name ?? "", created_at: new Date().toISOString(), after_seq: now.since_seq };
        card.replaceWith(baseSwitching(campaign, base, now, [mine, ...notes], kind));
      });
      button.after(ask);
      note.focus();
    });
  }
  const since = sw.since_seq ? t("qc.since", { seq: formatNumber(sw.since_seq) }) : t("qc.sinceStart");
  return replace(card,
    h("h3", {}, base.name, "：", h("span", { dataset: { role: "state" } }, t(`qc.severity.${sw.state}`))),
    h("p", { dataset: { role: "reason" } }, t(`qc.switch.${sw.reason}`), "（", since, "）"),
    sw.state === "normal" ? h("p", { dataset: { role: "score" } }, t("qc.switchingScore", { score: formatNumber(sw.switching_score) }),
      "；", t(sw.reduced_allowed ? "qc.reduced.allowed" : "qc.reduced.notAllowed")) : null,
    sw.state === "discontinued" ? h("p", { class: "error", dataset: { role: "closing-refused" }, i18n: "qc.closingRefused" }) : null,
    h("ul", { dataset: { role: "next" } }, nextSwitches(sw).map((s) => h("li", {}, s))),
    done ? h("p", { class: "ok", dataset: { role: "recorded" } }, t(`qc.note.recorded.${done}`, { state: t(`qc.severity.${sw.state}`) })) : null,
    button, status, noteList(notes));
}

// switchingSection lists where each base with batches stands (the dashboard's tiers carry
// it), or the one base the page is about.
export function switchingSection(campaign, dash) {
  const bases = dash.tiers.map((g) => ({ base: { id: g.base_id, name: g.base }, sw: g.switching }));
  const notesOf = (id) => (dash.notes || []).filter((n) => n.base_id === id);
  return h("section", { class: "card", id: "qc-switching", dataset: { section: "switching" } },
    h("h2", { i18n: "qc.switching" }), h("p", { class: "muted", i18n: "qc.switchingHint" }),
    bases.length ? bases.map(({ base, sw }) => baseSwitching(campaign, base, sw, notesOf(base.id))) : h("p", { class: "muted", i18n: "qc.noSwitching" }));
}
