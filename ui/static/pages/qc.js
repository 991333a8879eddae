// qc: quality control, part A (issue 14). The review stream (审核) a reviewer or a base's
// lead works through by keyboard, the inspection of a batch's sample by one tier (质检 by
// the base's leads, 验收 by the centre), a trainer's rework (返工) and appeal, and the QC
// dashboard of a campaign or of one base in it.
import { api } from "../api.js";
import { chart } from "../chart.js";
import { clear, h, replace, showError } from "../dom.js";
import { locale, t } from "../i18n.js";

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
function rankOf(ranking) {
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

// reviewPage is the review stream of a campaign; with a batch and a tier it inspects that
// batch's sample instead. Keys: 1 accepts, 2 rejects (with the chosen reason), 3 takes the
// next judgment. Digits, because they are where they are on every keyboard layout and read the
// same in Chinese and English hints.
export async function reviewPage(campaignId, batchId = null, tier = null) {
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
  // The decision form is hidden while nothing waits: buttons that can only fail are noise.
  const actions = h("div", { class: "review-actions card", id: "review-actions" },
    h("label", { class: "field" }, h("span", { i18n: "review.reason" }), reason),
    h("label", { class: "field" }, h("span", { i18n: "review.reasonTextLabel" }), reasonText),
    h("label", { class: "field" }, h("span", { i18n: "review.commentLabel" }), comment),
    h("div", { class: "row" }, accept, reject, next));
  let item = null;

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
    page.dataset.judgment = "";
    try {
      item = batchId
        ? await api("POST", `/batches/${batchId}/next?tier=${tier}`)
        : await api("POST", `/campaigns/${campaignId}/review/next`);
    } catch (err) {
      if (err.status !== 404) throw err;
      replace(body, h("p", { class: "muted", id: "review-empty" }, batchId ? t("review.sampleDone") : t("review.empty")));
      actions.hidden = true;
      return;
    }
    actions.hidden = false;
    page.dataset.judgment = item.judgment_id;
    comment.value = "";
    reasonText.value = "";
    replace(body,
      h("p", { class: "muted" }, t("review.by", { trainer: item.trainer, revision: item.judgment.revision })),
      item.rework ? h("p", { class: "review-rework", id: "review-rework" }, t("review.resubmission", { reason: reasonName(item.rework.reason_code) }), " ", item.rework.comment) : null,
      h("div", { class: "work-question" }, item.question),
      item.judgment.comment ? h("p", { class: "review-trainer-comment" }, t("review.trainerComment"), item.judgment.comment) : null,
      judgmentView(item));
    accept.focus();
  }
  const reasonName = (code) => reasonLabel(reasons.find((r) => r.code === code) || { label_en: code, label_zh: code });

  async function decide(verdict) {
    if (!item || page.dataset.busy) return;
    const d = { judgment_id: item.judgment_id, verdict, comment: comment.value };
    if (verdict === "rejected") Object.assign(d, { reason_code: reason.value, reason_text: reasonText.value });
    busy(true);
    try {
      if (batchId) await api("POST", `/batches/${batchId}/inspections`, { tier, ...d });
      else await api("POST", `/campaigns/${campaignId}/reviews`, d);
    } catch (err) {
      busy(false);
      showError(page, err, status);
      return;
    }
    await load();
    replace(status, h("p", { class: "ok", id: "review-done", dataset: { verdict } }, t(`review.done.${verdict}`)));
  }
  accept.addEventListener("click", () => decide("accepted"));
  reject.addEventListener("click", () => decide("rejected"));
  next.addEventListener("click", () => page.dataset.busy || load());
  keyHandler = (e) => {
    if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "1") decide("accepted");
    else if (e.key === "2") decide("rejected");
    else if (e.key === "3") page.dataset.busy || load();
    else return;
    e.preventDefault();
  };
  document.addEventListener("keydown", keyHandler);
  const title = batchId ? t("review.inspectTitle", { batch: batchId, tier: t(`qc.tier.${tier}`) }) : t("review.title", { name: campaign.name });
  page.append(h("h1", {}, title),
    h("p", { class: "muted key-hints" }, h("kbd", {}, "1"), " ", t("review.accept"), " · ", h("kbd", {}, "2"), " ", t("review.reject"), " · ",
      h("kbd", {}, "3"), " ", t("review.next")),
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
      r.state === "open" ? [" ", h("a", { class: "button", href: `#/reworks/${r.review_id}`, dataset: { role: "rework" } }, t("rework.open"))] : null))));
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

// inspectPage is one tier's inspection of a batch's sample, on the review screen.
export async function inspectPage(batchId, tier) {
  const { batch } = await api("GET", `/batches/${batchId}`);
  return reviewPage(batch.campaign_id, batchId, tier);
}

// qcPage is the QC dashboard of a campaign, or of one of its bases (?base= in the hash).
export async function qcPage(campaignId, baseId = null) {
  stopQC();
  const q = baseId ? `?base=${baseId}` : "";
  const [{ campaign }, dash] = await Promise.all([api("GET", `/campaigns/${campaignId}`), api("GET", `/campaigns/${campaignId}/qc${q}`)]);
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
        b.reinspection ? ` · ${t("qc.reinspection", { n: b.reinspection })}` : ""),
      h("td", {}, ["base", "centre"].map((tier, i) => [i > 0 ? " · " : null,
        h("a", { href: `#/batches/${b.id}/inspect/${tier}`, dataset: { tier } }, t(`qc.tier.${tier}`))]))))));

  // Closing a batch: a lead's (or an admin's) delivery of a base's judgments.
  const baseInput = h("input", { id: "qc-close-base", type: "number", min: 1, value: baseId ?? "", dataset: { field: "base_id" } });
  const every = h("input", { id: "qc-close-every", type: "number", min: 1, dataset: { field: "every" } });
  const close = h("button", { type: "button", id: "qc-close", i18n: "qc.close" });
  const closeStatus = h("div", { id: "qc-close-status" });
  const closeForm = h("div", { class: "card inline-form", id: "qc-close-form" }, h("h3", { i18n: "qc.closeTitle" }),
    h("label", { class: "field" }, h("span", { i18n: "qc.base" }), baseInput),
    h("label", { class: "field" }, h("span", { i18n: "qc.every" }), every), close, closeStatus);
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

  const r = dash.reviews;
  page.append(h("h1", {}, t("qc.title", { name: campaign.name })),
    h("p", { class: "muted" }, t("qc.settings", { aql: dash.settings.aql }), dash.severity ? ` · ${t(`qc.severity.${dash.severity}`)}` : ""),
    h("dl", { class: "work-counts", id: "qc-counts" },
      ["waiting", "accepted", "rejected", "reworks", "appeals"].flatMap((k) => [h("dt", { i18n: `qc.count.${k}` }), h("dd", { dataset: { count: k } }, r[k])])),
    h("p", {}, h("a", { class: "button", href: `#/campaigns/${campaignId}/review`, id: "qc-review-link", i18n: "qc.review" })),
    // The dashboard's sections. Issue 14's part B adds honeypot accuracy per trainer and
    // α over time here, as sections of their own, and links its trainers' page.
    h("div", { class: "qc-sections", id: "qc-sections" },
      h("section", { class: "card", dataset: { section: "batches" } }, h("h2", { i18n: "qc.chart.batches" }), perBatch),
      h("section", { class: "card", dataset: { section: "defects" } }, h("h2", { i18n: "qc.chart.defects" }), noDefects ?? defects),
      h("section", { class: "card", dataset: { section: "tiers" } }, h("h2", { i18n: "qc.chart.tiers" }), tiers,
        dash.tiers.some((g) => g.above) ? h("p", { i18n: "qc.gapIntro" }) : h("p", { class: "muted", i18n: "qc.noGap" }), gaps)),
    h("h2", { i18n: "qc.batches" }), batches.length ? table : h("p", { class: "muted", i18n: "qc.noBatches" }),
    closeForm);
  return page;
}
