// qc: quality control, part A (issue 14). The review stream (审核) a reviewer or a base's
// lead works through by keyboard, the inspection of a batch's sample by one tier (质检 by
// the base's leads, 验收 by the centre), a trainer's rework (返工) and appeal, and the QC
// dashboard of a campaign or of one base in it.
import { api } from "../api.js";
import { chart } from "../chart.js";
import { formatNumber, formatTime, h, replace, showError } from "../dom.js";
import { locale, t } from "../i18n.js";
import { session } from "../session.js";
import { reducedSetting, switchingSection } from "./qcswitching.js";

const letter = (position) => String.fromCharCode(64 + position);
const pct = (x) => (x == null ? "–" : `${Math.round(x * 10) / 10}%`);
const typing = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.tagName === "INPUT");
const reasonLabel = (r) => (locale() === "en" ? r.label_en : r.label_zh);

let keyHandler = null;

// stopQC removes the review screen's keyboard handler when the router leaves it.
export function stopQC() {
  if (keyHandler) document.removeEventListener("keydown", keyHandler);
  keyHandler = null;
}

// rankOf maps candidate id → its rank group (1 = best) in a judgment's ranking.
export function rankOf(ranking) {
  const out = {};
  (ranking || []).forEach((group, i) => group.forEach((id) => (out[id] = i + 1)));
  return out;
}

// judgmentView shows the trainer's marks on each candidate, best first.
function judgmentView(item) {
  const ranks = rankOf(item.judgment.ranking);
  const flags = item.judgment.flags || {};
  const cands = item.candidates.slice().sort((a, b) => (ranks[a.id] ?? 99) - (ranks[b.id] ?? 99) || a.position - b.position);
  return h("div", { class: "panes", id: "review-panes" }, cands.map((c) =>
    h("section", { class: "pane", dataset: { label: letter(c.position), candidate: c.id } },
      h("h3", {}, t("review.candidate", { label: letter(c.position) }), " · ",
        h("span", { class: "review-rank", dataset: { rank: ranks[c.id] ?? "" } }, ranks[c.id] ? t("review.rank", { n: ranks[c.id] }) : t("review.unranked"))),
      (flags[c.id] || []).length ? h("p", { class: "review-flags" }, (flags[c.id] || []).map((f) => t(`flag.${f}`)).join(" · ")) : null,
      h("div", { class: "reply" }, c.content))),
  item.edit_content != null ? h("section", { class: "pane review-edit" }, h("h3", { i18n: "review.edit" }), h("div", { class: "reply" }, item.edit_content)) : null,
  item.gold_content != null ? h("section", { class: "pane review-gold" }, h("h3", { i18n: "review.gold" }), h("div", { class: "reply" }, item.gold_content)) : null);
}

// rankingText writes a ranking as the candidates' letters, best first: "B > A = C".
export function rankingText(ranking, candidates) {
  const label = (id) => letter(candidates.find((c) => c.id === id)?.position ?? 0);
  return (ranking || []).length ? ranking.map((g) => g.map(label).join(" = ")).join(" > ") : t("review.unranked");
}

// rankingFrom reads rank selects (one per candidate, 1 = best, equal numbers tie) into a
// ranking's groups; unranked candidates are left out.
function rankingFrom(selects) {
  const groups = {};
  for (const sel of selects) if (sel.value) (groups[sel.value] ??= []).push(Number(sel.dataset.candidate));
  return Object.keys(groups).map(Number).sort((a, b) => a - b).map((k) => groups[k]);
}

// diffView shows an edit as the server's diff (the same character diff, cleaned up to words
// and phrases, that a judgment stores), so no diff library is loaded in the browser.
export async function diffView(from, to, id) {
  const box = h("div", { class: "diff", id });
  const { ops } = await api("POST", "/diff", { from, to });
  return replace(box, ops.map(([op, text]) => h("span", { class: op > 0 ? "add" : op < 0 ? "del" : "" }, text)));
}

// fixForm is the reviewer's correction of a judgment: the ranking, the edit and the gold
// reply, starting from the trainer's. submission() is the body POST /turns/:turn/judgments
// takes; the trainer's ratings, flags and comment are kept as they were. Ctrl+Enter (or
// the button) accepts with the fix; Escape closes the form without deciding.
function fixForm(item, onSubmit, onCancel) {
  const opened = Date.now();
  const key = crypto.randomUUID(); // one per fix, so a retry after an error is not a second fix
  const j = item.judgment;
  const ranks = rankOf(j.ranking);
  const cands = item.candidates.slice().sort((a, b) => a.position - b.position);
  const selects = cands.map((c) => h("select", { class: "rank", dataset: { candidate: c.id, label: letter(c.position) } },
    h("option", { value: "" }, "–"), cands.map((_, i) => h("option", { value: i + 1, selected: ranks[c.id] === i + 1 }, i + 1))));
  const editOf = h("select", { id: "fix-edit-candidate", dataset: { field: "edit.candidate_id" } },
    h("option", { value: "" }, t("review.fixNoEdit")),
    cands.map((c) => h("option", { value: c.id, selected: j.edited_candidate_id === c.id }, t("review.candidate", { label: letter(c.position) }))));
  const editText = h("textarea", { id: "fix-edit", rows: 5, dataset: { field: "edit.content" }, value: item.edit_content ?? "" });
  const editDiff = h("div", { id: "fix-edit-diff-box" });
  const original = () => cands.find((c) => c.id === Number(editOf.value))?.content ?? "";
  let diffTimer = 0;
  const showDiff = () => {
    clearTimeout(diffTimer);
    diffTimer = setTimeout(async () => {
      if (!editOf.value) return replace(editDiff);
      replace(editDiff, await diffView(original(), editText.value, "fix-edit-diff"));
    }, 200);
  };
  editOf.addEventListener("change", () => {
    // A new candidate to correct starts from its own text, unless the trainer corrected it.
    const c = Number(editOf.value);
    editText.value = c && c === j.edited_candidate_id ? item.edit_content ?? "" : original();
    editText.disabled = !c;
    showDiff();
  });
  editText.disabled = !editOf.value;
  editText.addEventListener("input", showDiff);
  const gold = h("textarea", { id: "fix-gold", rows: 3, dataset: { field: "gold.content" }, value: item.gold_content ?? "" });
  const submit = h("button", { type: "submit", id: "review-fix-submit", i18n: "review.fixSubmit" });
  const form = h("form", { class: "card review-fix", id: "review-fix-form" },
    h("h3", { i18n: "review.fixTitle" }), h("p", { class: "muted", i18n: "review.fixHint" }),
    h("div", { class: "row", dataset: { field: "ranking" } }, cands.map((c, i) =>
      h("label", { class: "field" }, h("span", {}, t("review.candidate", { label: letter(c.position) })), selects[i]))),
    h("label", { class: "field" }, h("span", { i18n: "review.fixEdit" }), editOf), editText, editDiff,
    h("label", { class: "field" }, h("span", { i18n: "review.fixGold" }), gold),
    h("div", { class: "row" }, submit));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    onSubmit();
  });
  form.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      onSubmit();
    } else if (e.key === "Escape") {
      e.preventDefault();
      onCancel();
    }
  });
  showDiff();

  function submission() {
    const ranking = rankingFrom(selects);
    const editID = Number(editOf.value);
    const edit = editID && editText.value.trim() ? { candidate_id: editID, content: editText.value } : null;
    const goldReply = gold.value.trim() ? { content: gold.value } : null;
    // Go on from where the trainer went on, when that reply is still there.
    const cont = j.continuation_message_id;
    const from = cands.find((c) => c.message_id === cont);
    let continueFrom;
    if (edit && (cont === j.edited_message_id || !goldReply)) continueFrom = { edit: true };
    else if (goldReply && (cont === j.gold_message_id || !from)) continueFrom = { gold: true };
    else continueFrom = { candidate_id: from?.id ?? ranking[0]?.[0] ?? cands[0].id };
    return { idempotency_key: key, ranking, ratings: j.ratings || {}, flags: j.flags || {}, comment: j.comment || "",
      edit, gold: goldReply, continue_from: continueFrom, time_spent_ms: Math.min(Date.now() - opened, 86400000) };
  }
  return { form, submission, focus: () => selects[0]?.focus() };
}

// revisionsView shows the trainer's revision beside the reviewer's fix, with the edit's
// diff: from the trainer's correction (or the candidate, when the trainer corrected another
// one or none) to the reviewer's.
async function revisionsView(item, fix, fixedID) {
  const cands = item.candidates;
  const label = (id) => letter(cands.find((c) => c.id === id)?.position ?? 0);
  const side = (id, title, ranking, editCand, editText, goldText) => h("section", { class: "pane revision", id },
    h("h3", {}, title),
    h("p", { dataset: { role: "ranking" } }, t("review.revisionRanking"), rankingText(ranking, cands)),
    editCand ? [h("h4", {}, t("review.revisionEdit", { label: label(editCand) })), h("div", { class: "reply", dataset: { role: "edit" } }, editText)] : null,
    goldText ? [h("h4", { i18n: "review.revisionGold" }), h("div", { class: "reply", dataset: { role: "gold" } }, goldText)] : null);
  const j = item.judgment;
  const diffs = [];
  if (fix.edit) {
    const from = fix.edit.candidate_id === j.edited_candidate_id ? item.edit_content ?? "" : cands.find((c) => c.id === fix.edit.candidate_id)?.content ?? "";
    diffs.push(h("h4", {}, t("review.revisionEditDiff", { label: label(fix.edit.candidate_id) })), await diffView(from, fix.edit.content, "revision-diff"));
  }
  if (fix.gold && fix.gold.content !== (item.gold_content ?? "")) {
    diffs.push(h("h4", { i18n: "review.revisionGoldDiff" }), await diffView(item.gold_content ?? "", fix.gold.content, "revision-gold-diff"));
  }
  return h("div", { id: "review-revisions" },
    h("div", { class: "work-question" }, item.question),
    h("div", { class: "panes" },
      side("revision-trainer", t("review.revisionTrainer", { trainer: item.trainer, revision: j.revision }), j.ranking, j.edited_candidate_id, item.edit_content, item.gold_content),
      side("revision-reviewer", t("review.revisionMine", { id: fixedID }), fix.ranking, fix.edit?.candidate_id, fix.edit?.content, fix.gold?.content)),
    diffs.length ? h("section", { class: "card" }, diffs) : null,
    h("p", { class: "muted", i18n: "review.revisionKept" }));
}

// reviewPage is the review stream of a campaign; with a batch and a tier it inspects that
// batch's sample instead. Keys: 1 accepts, 2 rejects (with the chosen reason), 3 takes the
// next judgment. Digits, because they are where they are on every keyboard layout and read the
// same in Chinese and English hints.
//
// With reinspect (a rejected batch's id) it is that batch's 100% re-inspection by the base's
// leads: the review stream narrowed to the batch (?batch=), with what is left and, at the
// end, what the server did with the batch.
export async function reviewPage(campaignId, batchId = null, tier = null, reinspect = null) {
  stopQC();
  const { campaign } = await api("GET", `/campaigns/${campaignId}`);
  const { reasons } = await api("GET", `/projects/${campaign.project_id}/review-reasons`);
  const page = h("div", { class: "page review", id: "review-page", dataset: { campaign: campaignId } });
  const body = h("div", { id: "review-item" });
  const status = h("div", { id: "review-status" });
  const reason = h("select", { id: "review-reason", dataset: { field: "reason_code" } },
    reasons.map((r) => h("option", { value: r.code }, reasonLabel(r))));
  const reasonText = h("input", { id: "review-reason-text", dataset: { field: "reason_text" }, "data-i18n-placeholder": "review.reasonText", placeholder: t("review.reasonText") });
  const comment = h("textarea", { id: "review-comment", rows: 2, dataset: { field: "comment" }, placeholder: t("review.comment"), "data-i18n-placeholder": "review.comment" });
  const accept = h("button", { type: "button", id: "review-accept", i18n: "review.accept" });
  const reject = h("button", { type: "button", id: "review-reject", class: "danger", i18n: "review.reject" });
  const next = h("button", { type: "button", id: "review-next", class: "secondary", i18n: "review.next" });
  const fixButton = h("button", { type: "button", id: "review-fix", class: "secondary", i18n: "review.fix" });
  const decisionButtons = [accept, reject, fixButton];
  // The decision form is hidden while nothing waits: buttons that can only fail are noise.
  const actions = h("div", { class: "review-actions card", id: "review-actions" },
    h("label", { class: "field" }, h("span", { i18n: "review.reason" }), reason),
    h("label", { class: "field" }, h("span", { i18n: "review.reasonTextLabel" }), reasonText),
    h("label", { class: "field" }, h("span", { i18n: "review.commentLabel" }), comment),
    h("div", { class: "row" }, accept, reject, fixButton, next));
  const left = h("p", { class: "muted", id: "reinspect-left" });
  let item = null;
  let fixing = null; // the open fix form, while the reviewer corrects the judgment

  // busy marks the screen while a judgment loads or a decision is sent: keys do nothing
  // then (item is null), and tests wait for it to clear.
  const busy = (on) => (on ? (page.dataset.busy = "true") : delete page.dataset.busy);
  async function load() {
    busy(true);
    try {
      await show();
    } finally {
      busy(false);
    }
  }
  async function show() {
    item = null;
    fixing = null;
    page.dataset.judgment = "";
    delete page.dataset.fixed;
    decisionButtons.forEach((b) => (b.hidden = false));
    try {
      item = batchId
        ? await api("POST", `/batches/${batchId}/next?tier=${tier}`)
        : await api("POST", `/campaigns/${campaignId}/review/next${reinspect ? `?batch=${reinspect}` : ""}`);
    } catch (err) {
      if (err.status !== 404) throw err;
      replace(body, h("p", { class: "muted", id: "review-empty" }, batchId ? t("review.sampleDone") : reinspect ? t("reinspect.empty") : t("review.empty")));
      actions.hidden = true;
      if (reinspect) await reinspectState(true);
      return;
    }
    if (reinspect) await reinspectState(false);
    actions.hidden = false;
    page.dataset.judgment = item.judgment_id;
    comment.value = "";
    reasonText.value = "";
    replace(body,
      h("p", { class: "muted" }, t("review.by", { trainer: item.trainer, revision: item.judgment.revision }), " · ",
        // A judgment's revisions (issue 14): every earlier revision and decision about it.
        h("a", { href: `#/judgments/${item.judgment_id}/revisions`, id: "review-revisions-link", i18n: "revisions.link" })),
      item.rework ? h("p", { class: "review-rework", id: "review-rework" }, t("review.resubmission", { reason: reasonName(item.rework.reason_code) }), " ", item.rework.comment) : null,
      h("div", { class: "work-question" }, item.question),
      item.judgment.comment ? h("p", { class: "review-trainer-comment" }, t("review.trainerComment"), item.judgment.comment) : null,
      judgmentView(item));
    accept.focus();
  }
  const reasonName = (code) => reasonLabel(reasons.find((r) => r.code === code) || { label_en: code, label_zh: code });

  // reinspectState shows how much of a rejected batch is left to re-inspect and, once
  // nothing is, what the server did: nothing more to the batch (the centre's rejection
  // stands, its result is history), while each judgment re-inspected counts as its review
  // says (accepted ones in "accepted only" exports, rejected ones back to their trainers).
  async function reinspectState(done) {
    const { batch } = await api("GET", `/batches/${reinspect}`);
    page.dataset.left = String(batch.reinspection);
    if (!done) {
      replace(left, t("reinspect.left", { n: formatNumber(batch.reinspection), lot: formatNumber(batch.lot_size) }));
      return;
    }
    replace(left);
    body.append(h("div", { class: "card", id: "reinspect-done" },
      h("p", {}, t("reinspect.done", { base: batch.base, seq: batch.seq, lot: formatNumber(batch.lot_size) })),
      h("p", { class: "muted" }, t("reinspect.after", { result: t(`qc.result.${batch.centre_result}`) }))));
  }

  async function decide(verdict) {
    if (!item || page.dataset.busy) return;
    if (verdict === "fixed" && !fixing) return;
    const d = { judgment_id: item.judgment_id, verdict, comment: comment.value };
    if (verdict === "rejected") Object.assign(d, { reason_code: reason.value, reason_text: reasonText.value });
    if (verdict === "fixed") d.fix = fixing.submission();
    busy(true);
    let res;
    try {
      if (batchId) res = await api("POST", `/batches/${batchId}/inspections`, { tier, ...d });
      else res = await api("POST", `/campaigns/${campaignId}/reviews`, d);
    } catch (err) {
      busy(false);
      showError(fixing?.form || page, err, status);
      return;
    }
    if (verdict === "fixed") {
      // The fix is the reviewer's own revision; the trainer's stays. Both are shown side by
      // side until the reviewer moves on (3 or Next), so they can see what they changed.
      const mine = d.fix;
      const trainerItem = item;
      item = null;
      fixing = null;
      decisionButtons.forEach((b) => (b.hidden = true));
      page.dataset.fixed = String(res.fixed_judgment_id);
      replace(body, await revisionsView(trainerItem, mine, res.fixed_judgment_id));
      replace(status, h("p", { class: "ok", id: "review-done", dataset: { verdict } }, t("review.done.fixed")));
      busy(false);
      next.focus();
      return;
    }
    await load();
    replace(status, h("p", { class: "ok", id: "review-done", dataset: { verdict } }, t(`review.done.${verdict}`)));
  }
  // openFix puts the fix form under the trainer's marks: their ranking, edit and gold as the
  // starting point, for the reviewer to correct and accept (4, then Enter or the button).
  function openFix() {
    if (!item || page.dataset.busy || fixing) return;
    fixing = fixForm(item, () => decide("fixed"), () => {
      fixing?.form.remove();
      fixing = null;
      fixButton.focus();
    });
    body.append(fixing.form);
    fixing.focus();
  }
  accept.addEventListener("click", () => decide("accepted"));
  reject.addEventListener("click", () => decide("rejected"));
  fixButton.addEventListener("click", openFix);
  next.addEventListener("click", () => page.dataset.busy || load());
  keyHandler = (e) => {
    if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "1") decide("accepted");
    else if (e.key === "2") decide("rejected");
    else if (e.key === "3") page.dataset.busy || load();
    else if (e.key === "4") openFix();
    else return;
    e.preventDefault();
  };
  document.addEventListener("keydown", keyHandler);
  const title = batchId ? t("review.inspectTitle", { batch: batchId, tier: t(`qc.tier.${tier}`) })
    : reinspect ? t("reinspect.title", { batch: reinspect, name: campaign.name }) : t("review.title", { name: campaign.name });
  page.append(h("h1", {}, title),
    h("p", { class: "muted key-hints" }, h("kbd", {}, "1"), " ", t("review.accept"), " · ", h("kbd", {}, "2"), " ", t("review.reject"), " · ",
      h("kbd", {}, "3"), " ", t("review.next"), " · ", h("kbd", {}, "4"), " ", t("review.fix")),
    ...(reinspect ? [h("p", { class: "muted", i18n: "reinspect.intro" })] : []), // native append writes null out as text
    left,
    body,
    actions,
    status,
    h("p", {}, h("a", { href: `#/campaigns/${campaignId}/qc`, id: "review-qc-link", i18n: "qc.link" })));
  await load();
  return page;
}

// reworksSection is My work's list of rejected judgments to rework.
export async function reworksSection() {
  const { reworks } = await api("GET", "/reworks");
  if (reworks.length === 0) return null;
  return h("section", { class: "card", id: "reworks" }, h("h3", { i18n: "rework.title" }),
    h("ul", {}, reworks.map((r) => h("li", { class: "rework", dataset: { review: r.review_id, state: r.state } },
      h("strong", {}, r.campaign), " · ", r.question, h("br"),
      t("rework.reason"), reasonCode(r.reason_code), r.reason_text ? ` (${r.reason_text})` : "", r.comment ? ` · ${r.comment}` : "", h("br"),
      h("span", { class: "muted" }, t(`rework.state.${r.state}`), r.appeal_state ? ` · ${t(`rework.appeal.${r.appeal_state}`)}` : ""),
      // The decision of an appeal, with the decider's note, where the trainer looks first.
      r.appeal_decided ? h("span", { class: "rework-decision", dataset: { appeal: r.appeal_state } }, " · ",
        t("rework.decidedAt", { at: formatTime(r.appeal_decided) }), r.appeal_note ? ` · ${r.appeal_note}` : "") : null,
      r.state === "open" ? [" ", h("a", { class: "button", href: `#/reworks/${r.review_id}`, dataset: { role: "rework" } }, t("rework.open"))] : null,
      // A judgment's revisions (issue 14): the rejected one, the resubmission, any fix.
      " ", h("a", { href: `#/judgments/${r.resubmitted_id ?? r.judgment_id}/revisions`, dataset: { role: "revisions" } }, t("revisions.link"))))));
}

// reasonCode names a default reason in the reader's language; a project's own codes show as
// they are (their labels come with the review screen).
function reasonCode(code) {
  const key = `reason.${code}`;
  const text = t(key);
  return text === key ? code : text;
}

// reworkPage shows a rejected judgment back with its trainer: the reason and comment, the
// candidates ranked as before, a new ranking to resubmit, and an appeal (once).
export async function reworkPage(reviewId) {
  const { rework, item } = await api("GET", `/reworks/${reviewId}`);
  const page = h("div", { class: "page rework-page", id: "rework-page", dataset: { review: reviewId } });
  const ranks = rankOf(item.judgment.ranking);
  const selects = item.candidates.slice().sort((a, b) => a.position - b.position).map((c) => {
    const sel = h("select", { class: "rank", dataset: { candidate: c.id, label: letter(c.position) } },
      h("option", { value: "" }, "–"), item.candidates.map((_, i) => h("option", { value: i + 1, selected: ranks[c.id] === i + 1 }, i + 1)));
    return h("section", { class: "pane", dataset: { label: letter(c.position) } },
      h("h3", {}, t("review.candidate", { label: letter(c.position) }), " ", sel), h("div", { class: "reply" }, c.content));
  });
  const note = h("textarea", { id: "rework-comment", rows: 2, dataset: { field: "comment" } });
  const submit = h("button", { type: "button", id: "rework-submit", i18n: "rework.resubmit" });
  const appealText = h("textarea", { id: "appeal-reason", rows: 2, dataset: { field: "reason" } });
  const appeal = h("button", { type: "button", id: "appeal-submit", class: "secondary", i18n: "rework.appealSubmit" });
  const status = h("div", { id: "rework-status" });
  submit.addEventListener("click", async () => {
    const groups = {};
    for (const sel of page.querySelectorAll("select.rank")) if (sel.value) (groups[sel.value] ??= []).push(Number(sel.dataset.candidate));
    const ranking = Object.keys(groups).map(Number).sort((a, b) => a - b).map((k) => groups[k]);
    const first = ranking[0]?.[0] ?? item.candidates[0].id;
    try {
      await api("POST", `/reworks/${reviewId}/judgment`, { idempotency_key: crypto.randomUUID(), ranking, comment: note.value,
        continue_from: { candidate_id: first }, time_spent_ms: 0 });
    } catch (err) {
      showError(page, err, status);
      return;
    }
    replace(status, h("p", { class: "ok", id: "rework-done" }, t("rework.resubmitted")));
    submit.disabled = true;
  });
  appeal.addEventListener("click", async () => {
    try {
      await api("POST", `/reworks/${reviewId}/appeal`, { reason: appealText.value });
    } catch (err) {
      showError(page, err, status);
      return;
    }
    replace(status, h("p", { class: "ok", id: "appeal-done" }, t("rework.appealed")));
    appeal.disabled = true;
  });
  page.append(h("h1", { i18n: "rework.title" }),
    h("p", { class: "review-rework" }, t("rework.reason"), reasonCode(rework.reason_code), rework.reason_text ? ` (${rework.reason_text})` : "",
      rework.comment ? ` · ${rework.comment}` : ""),
    h("div", { class: "work-question" }, item.question),
    h("div", { class: "panes", dataset: { field: "ranking" } }, selects),
    h("label", { class: "field" }, h("span", { i18n: "rework.comment" }), note),
    h("div", { class: "row" }, submit),
    rework.appeal_state ? h("p", { class: "muted" }, t(`rework.appeal.${rework.appeal_state}`))
      : h("div", { class: "card" }, h("label", { class: "field" }, h("span", { i18n: "rework.appeal" }), appealText), appeal),
    status, h("a", { href: "#/work", i18n: "work.back" }));
  return page;
}

// reinspectPage is a rejected batch's 100% re-inspection by its base's leads, on the
// review screen.
export async function reinspectPage(batchId) {
  const { batch } = await api("GET", `/batches/${batchId}`);
  return reviewPage(batch.campaign_id, null, null, batchId);
}

// appealsPage lists a campaign's appeals waiting for a decision, each with the judgment it
// is about, the reviewer's reason and comment and the trainer's appeal. The project's admins
// and the trainer's leads uphold or overturn; anyone else (the reviewer who rejected among
// them) sees why they may not.
export async function appealsPage(campaignId) {
  stopQC();
  const [{ campaign }, { appeals }] = await Promise.all([api("GET", `/campaigns/${campaignId}`), api("GET", `/campaigns/${campaignId}/appeals`)]);
  const details = await Promise.all(appeals.map((a) => api("GET", `/campaigns/${campaignId}/appeals/${a.review_id}`)));
  const page = h("div", { class: "page appeals", id: "appeals-page", dataset: { campaign: campaignId } },
    h("h1", {}, t("appeals.title", { name: campaign.name })),
    h("p", {}, h("a", { href: `#/campaigns/${campaignId}/qc`, i18n: "qc.link" })));
  if (details.length === 0) page.append(h("p", { class: "muted", id: "appeals-empty", i18n: "appeals.empty" }));
  for (const { appeal: a, item, can_decide: canDecide } of details) {
    const note = h("textarea", { rows: 2, dataset: { field: "note" }, placeholder: t("appeals.notePlaceholder") });
    const status = h("div");
    const card = h("section", { class: "card appeal", dataset: { review: a.review_id, state: a.state } });
    const decide = async (decision) => {
      try {
        await api("PUT", `/appeals/${a.review_id}`, { decision, note: note.value });
      } catch (err) {
        showError(card, err, status);
        return;
      }
      card.dataset.state = decision;
      replace(card, h("p", { class: "ok", dataset: { role: "decided" } }, t(`appeals.decided.${decision}`, { trainer: a.trainer })),
        note.value ? h("p", { class: "muted" }, note.value) : null);
    };
    const buttons = canDecide
      ? h("div", { class: "row" },
        h("button", { type: "button", dataset: { role: "uphold" }, onclick: () => decide("upheld") }, t("appeals.uphold")),
        h("button", { type: "button", class: "secondary", dataset: { role: "overturn" }, onclick: () => decide("overturned") }, t("appeals.overturn")))
      : h("p", { class: "muted", dataset: { role: "cannot" } }, t(a.reviewer_id === session()?.user?.id ? "appeals.ownRejection" : "appeals.notYours"));
    replace(card,
      h("h3", {}, t("appeals.by", { trainer: a.trainer, at: formatTime(a.created_at) })),
      h("p", { class: "review-rework" }, t("rework.reason"), reasonCode(a.reason_code), a.comment ? ` · ${a.comment}` : ""),
      h("p", { class: "appeal-reason" }, t("appeals.reason"), a.reason),
      h("p", {}, h("a", { href: `#/judgments/${a.judgment_id}/revisions`, dataset: { role: "revisions" }, i18n: "revisions.link" })), // issue 14: its revisions
      h("div", { class: "work-question" }, item.question),
      judgmentView(item),
      canDecide ? h("label", { class: "field" }, h("span", { i18n: "appeals.note" }), note) : null,
      buttons, status);
    page.append(card);
  }
  return page;
}

// inspectPage is one tier's inspection of a batch's sample, on the review screen.
export async function inspectPage(batchId, tier) {
  const { batch } = await api("GET", `/batches/${batchId}`);
  return reviewPage(batch.campaign_id, batchId, tier);
}

// qcPage is the QC dashboard of a campaign, or of one of its bases (?base= in the hash).
export async function qcPage(campaignId, baseId = null) {
  stopQC();
  const q = baseId ? `?base=${baseId}` : "";
  const [{ campaign }, dash, { bases: closable }] = await Promise.all([api("GET", `/campaigns/${campaignId}`), api("GET", `/campaigns/${campaignId}/qc${q}`),
    api("GET", `/campaigns/${campaignId}/batch-bases`).catch(() => ({ bases: [] }))]); // a viewer may not judge: no picker
  const page = h("div", { class: "page qc", id: "qc-page", dataset: { campaign: campaignId } });
  const batches = dash.batches;
  const resultText = (v) => t(`qc.result.${v}`);
  const rate = (b, tier) => (b[`${tier}_inspected`] ? (100 * (b[`${tier}_inspected`] - b[`${tier}_defects`])) / b[`${tier}_inspected`] : null);

  // Acceptance per batch over time: each tier's pass rate on the sample, in the order closed.
  const perBatch = chart({
    tooltip: { trigger: "axis" },
    legend: { data: [t("qc.tier.base"), t("qc.tier.centre")] },
    xAxis: { type: "category", data: batches.map((b) => `${b.base} #${b.seq}`) },
    yAxis: { type: "value", min: 0, max: 100, name: "%" },
    series: [
      { name: t("qc.tier.base"), type: "bar", data: batches.map((b) => rate(b, "base")) },
      { name: t("qc.tier.centre"), type: "bar", data: batches.map((b) => rate(b, "centre")) },
    ],
  }, { label: t("qc.chart.batches") });
  const defects = chart({
    tooltip: {},
    xAxis: { type: "category", data: dash.defects.map((d) => reasonCode(d.reason_code)) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", data: dash.defects.map((d) => d.count) }],
  }, { label: t("qc.chart.defects") });
  const noDefects = dash.defects.length === 0 ? h("p", { class: "muted", i18n: "qc.noDefects" }) : null;
  const tiers = chart({
    tooltip: { trigger: "axis" },
    legend: { data: [t("qc.tier.base"), t("qc.tier.centre")] },
    xAxis: { type: "category", data: dash.tiers.map((g) => g.base) },
    yAxis: { type: "value", min: 0, max: 100, name: "%" },
    series: [
      { name: t("qc.tier.base"), type: "bar", data: dash.tiers.map((g) => g.base_pass_rate) },
      { name: t("qc.tier.centre"), type: "bar", data: dash.tiers.map((g) => g.centre_pass_rate) },
    ],
  }, { label: t("qc.chart.tiers") });

  const gaps = h("ul", { id: "qc-gaps" }, dash.tiers.filter((g) => g.above).map((g) =>
    h("li", { class: "qc-gap", dataset: { base: g.base_id } }, t("qc.gap", { base: g.base, gap: pct(g.gap), own: pct(g.base_pass_rate), centre: pct(g.centre_pass_rate) }))));
  const table = h("table", { class: "table", id: "qc-batches" },
    h("thead", {}, h("tr", {}, ["qc.batch", "qc.lot", "qc.plan", "qc.severity", "qc.tier.base", "qc.tier.centre", "qc.inspect"].map((k) => h("th", { i18n: k })))),
    h("tbody", {}, batches.map((b) => h("tr", { dataset: { batch: b.id, centre: b.centre_result, base: b.base_result } },
      h("td", {}, `${b.base} #${b.seq}`), h("td", {}, b.lot_size),
      h("td", {}, t("qc.planText", { letter: b.plan_letter, n: b.sample_size, ac: b.ac, re: b.re })),
      h("td", {}, t(`qc.severity.${b.severity}`)),
      h("td", {}, resultText(b.base_result), ` (${b.base_defects}/${b.base_inspected})`),
      h("td", {}, resultText(b.centre_result), ` (${b.centre_defects}/${b.centre_inspected})`,
        // A rejected batch goes back to its base for 100% re-inspection; once nothing of it
        // waits, it is re-inspected (the centre's result stays as it was).
        b.centre_result === "rejected" ? [" · ", b.reinspection
          ? h("a", { href: `#/batches/${b.id}/reinspect`, dataset: { role: "reinspect" } }, t("qc.reinspection", { n: b.reinspection }))
          : h("span", { dataset: { role: "reinspected" } }, t("qc.reinspected"))] : null),
      h("td", {}, ["base", "centre"].map((tier, i) => [i > 0 ? " · " : null,
        h("a", { href: `#/batches/${b.id}/inspect/${tier}`, dataset: { tier } }, t(`qc.tier.${tier}`))]))))));

  // Closing a batch: a lead's (or an admin's) delivery of a base's judgments.
  // The bases are offered by name: those of the campaign this person may close batches for.
  const baseInput = h("select", { id: "qc-close-base", dataset: { field: "base_id" } },
    closable.map((b) => h("option", { value: b.id, selected: b.id === baseId }, b.name)));
  const every = h("input", { id: "qc-close-every", type: "number", min: 1, dataset: { field: "every" } });
  const close = h("button", { type: "button", id: "qc-close", i18n: "qc.close" });
  const closeStatus = h("div", { id: "qc-close-status" });
  const closeForm = h("div", { class: "card inline-form", id: "qc-close-form" }, h("h3", { i18n: "qc.closeTitle" }),
    h("label", { class: "field" }, h("span", { i18n: "qc.base" }), baseInput),
    h("label", { class: "field" }, h("span", { i18n: "qc.every" }), every), close, closeStatus);
  if (closable.length === 0) closeForm.hidden = true; // nobody here may close one
  close.addEventListener("click", async () => {
    const body = { base_id: Number(baseInput.value) || 0 };
    if (every.value) body.every = Number(every.value);
    try {
      await api("POST", `/campaigns/${campaignId}/batches`, body);
    } catch (err) {
      showError(closeForm, err, closeStatus);
      return;
    }
    replace(page, await qcPage(campaignId, baseId)); // the new batch, in the table and the charts
  });

  // Side-swap checks (blind pairwise campaigns): each trainer's consistency on repeats and
  // the share of pairs given to the left-hand reply, from the trainers' statistics (whose
  // scope the server decides: a lead sees their base, a trainer themselves).
  let swaps = null;
  if (campaign.task_kind === "blind_pairwise") {
    const { trainers } = await api("GET", `/campaigns/${campaignId}/trainer-stats`);
    const share = (x) => (x == null ? null : Math.round(x * 1000) / 10);
    const shown = trainers.filter((s) => s.swap_repeats > 0 || s.left_share != null);
    swaps = h("section", { class: "card", dataset: { section: "swaps" } }, h("h2", { i18n: "qc.swaps" }), h("p", { class: "muted", i18n: "qc.swapsHint" }),
      shown.length === 0 ? h("p", { class: "muted", i18n: "qc.noSwaps" }) : [
        chart({
          tooltip: { trigger: "axis" },
          legend: { data: [t("qc.swapConsistency"), t("qc.leftShare")] },
          xAxis: { type: "category", data: shown.map((s) => s.display_name) },
          yAxis: { type: "value", min: 0, max: 100, name: "%" },
          series: [
            { name: t("qc.swapConsistency"), type: "bar", data: shown.map((s) => share(s.swap_consistency)) },
            { name: t("qc.leftShare"), type: "bar", data: shown.map((s) => share(s.left_share)),
              markLine: { symbol: "none", data: [{ yAxis: 50, name: t("qc.noBias") }] } },
          ],
        }, { label: t("qc.swaps") }),
        h("table", { class: "table", id: "qc-swaps" },
          h("thead", {}, h("tr", {}, ["quality.trainer", "qc.swapRepeats", "qc.swapConsistency", "qc.leftShare"].map((k) => h("th", { i18n: k })))),
          h("tbody", {}, shown.map((s) => h("tr", { dataset: { trainer: s.trainer_id } },
            h("td", {}, s.display_name), h("td", {}, formatNumber(s.swap_repeats)),
            h("td", {}, s.swap_consistency == null ? "–" : `${pct(share(s.swap_consistency))} (${formatNumber(s.swap_consistent)}/${formatNumber(s.swap_repeats)})`),
            h("td", {}, pct(share(s.left_share)))))))]);
  }

  const r = dash.reviews;
  page.append(h("h1", {}, t("qc.title", { name: campaign.name })),
    h("p", { class: "muted" }, t("qc.settings", { aql: dash.settings.aql }), dash.severity ? ` · ${t(`qc.severity.${dash.severity}`)}` : ""),
    // Switching rules (issue 14, qcswitching.js): reduced inspection's setting, and where
    // each base stands with the notes a project admin records.
    reducedSetting(campaign, dash.settings, async () => replace(page, await qcPage(campaignId, baseId))),
    switchingSection(campaign, dash),
    h("dl", { class: "work-counts", id: "qc-counts" },
      ["waiting", "accepted", "rejected", "reworks", "appeals"].flatMap((k) => [h("dt", { i18n: `qc.count.${k}` }), h("dd", { dataset: { count: k } }, r[k])])),
    h("p", {}, h("a", { class: "button", href: `#/campaigns/${campaignId}/review`, id: "qc-review-link", i18n: "qc.review" }), " ",
      h("a", { class: "button secondary", href: `#/campaigns/${campaignId}/appeals`, id: "qc-appeals-link" }, t("qc.appealsLink", { n: formatNumber(r.appeals) }))),
    // The dashboard's sections. Issue 14's part B adds honeypot accuracy per trainer and
    // α over time here, as sections of their own, and links its trainers' page.
    h("div", { class: "qc-sections", id: "qc-sections" },
      h("section", { class: "card", dataset: { section: "batches" } }, h("h2", { i18n: "qc.chart.batches" }), perBatch),
      h("section", { class: "card", dataset: { section: "defects" } }, h("h2", { i18n: "qc.chart.defects" }), noDefects ?? defects),
      h("section", { class: "card", dataset: { section: "tiers" } }, h("h2", { i18n: "qc.chart.tiers" }), tiers,
        dash.tiers.some((g) => g.above) ? h("p", { i18n: "qc.gapIntro" }) : h("p", { class: "muted", i18n: "qc.noGap" }), gaps),
      swaps),
    h("h2", { i18n: "qc.batches" }), batches.length ? table : h("p", { class: "muted", i18n: "qc.noBatches" }),
    closeForm);
  return page;
}
