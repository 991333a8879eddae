// quality: a campaign's quality control per trainer (issue 14, part B): items per hour of
// active time, acceptance, honeypot accuracy, agreement and rework, with charts of honeypot
// accuracy per trainer and α over time. A trainer sees their own row, a lead their base's,
// admins and reviewers everyone's (the server decides). Experts and admins also manage the
// campaign's gold items here; leads lift pauses. The QC dashboard (#/campaigns/:id/qc) links
// here and back.
import { api } from "../api.js";
import { errorBox, h, replace, showError } from "../dom.js";
import { locale, t } from "../i18n.js";
import { chart } from "../chart.js";

const FLAGS = ["hallucination", "unsafe", "off_persona", "refusal"];
const letter = (position) => String.fromCharCode(64 + position);

// Numbers follow the interface's language.
const fmt = (v, digits = 2) => (v == null ? "–" : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(v));
const pct = (v) => (v == null ? "–" : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 0 }).format(v));

export async function qualityPage(campaignId) {
  const data = await api("GET", `/campaigns/${campaignId}/trainer-stats`);
  // Everything that waits on the network comes before the charts: chart() gives up on an
  // element that is not on the page when it is first measured.
  const pauses = await pausesSection(campaignId);
  const gold = await goldSection(campaignId);
  const { campaign, trainers, agreement: ag } = data;
  const page = h("div", { class: "page quality", dataset: { campaign: campaignId, scope: data.scope } },
    h("h1", {}, t("quality.title", { name: campaign.name })),
    h("p", {}, h("a", { href: `#/campaigns/${campaignId}/qc`, id: "quality-to-qc", i18n: "quality.toDashboard" })),
    h("p", { class: "muted", id: "quality-scope" }, t(`quality.scope.${data.scope}`)));

  page.append(h("section", { class: "card", id: "quality-agreement" }, h("h2", { i18n: "quality.agreement" }),
    h("dl", { class: "work-counts" },
      h("dt", { i18n: "quality.alphaRanking" }), h("dd", { dataset: { measure: "alpha_ranking" } }, fmt(ag.alpha_ranking, 3)),
      h("dt", { i18n: "quality.alphaFlags" }), h("dd", { dataset: { measure: "alpha_flags" } }, fmt(ag.alpha_flags, 3)),
      h("dt", { i18n: "quality.alphaRatings" }), h("dd", { dataset: { measure: "alpha_ratings" } }, fmt(ag.alpha_ratings, 3)),
      h("dt", { i18n: "quality.meanW" }), h("dd", { dataset: { measure: "mean_w" } }, fmt(ag.mean_w, 3)),
      h("dt", { i18n: "quality.lowItems" }), h("dd", {}, fmt(ag.low_items, 0)),
      h("dt", { i18n: "quality.extra" }), h("dd", {}, fmt(ag.extra, 0)),
      h("dt", { i18n: "quality.adjudicate" }), h("dd", {}, fmt(ag.adjudicate, 0))),
    h("p", { class: "muted" }, ag.refreshed_at ? t("quality.refreshed", { at: new Date(ag.refreshed_at).toLocaleString(locale()) }) : t("quality.notRefreshed"))));

  const cols = ["quality.trainer", "quality.base", "quality.judgments", "quality.perHour", "quality.median", "quality.acceptance",
    "quality.honeypot", "quality.agreementLoo", "quality.rework", "quality.speedFlagged", "quality.held", "quality.leftShare", "quality.swapConsistency", "quality.state"];
  page.append(h("section", { class: "card" }, h("h2", { i18n: "quality.trainers" }),
    trainers.length === 0 ? h("p", { class: "muted", i18n: "quality.noTrainers" }) : h("table", { class: "table", id: "quality-trainers" },
      h("thead", {}, h("tr", {}, cols.map((k) => h("th", { i18n: k })))),
      h("tbody", {}, trainers.map((s) => h("tr", { dataset: { trainer: s.trainer_id } },
        h("td", {}, s.display_name, h("small", { class: "muted" }, ` ${s.login}`)), h("td", {}, s.base_name || "–"),
        h("td", {}, fmt(s.judgments, 0)), h("td", { dataset: { stat: "per_hour" } }, fmt(s.items_per_hour, 1)),
        h("td", {}, s.median_ms == null ? "–" : t("quality.seconds", { n: fmt(s.median_ms / 1000, 1) })),
        h("td", {}, pct(s.acceptance_rate)), h("td", { dataset: { stat: "honeypot" } }, `${pct(s.honeypot_accuracy)} (${fmt(s.gold_correct, 0)}/${fmt(s.gold_answered, 0)})`),
        h("td", {}, fmt(s.agreement, 2)), h("td", {}, fmt(s.rework, 0)), h("td", { dataset: { stat: "speed" } }, fmt(s.speed_flagged, 0)),
        h("td", {}, fmt(s.held, 0)), h("td", {}, pct(s.left_share)),
        // Side-swap checks: the share of repeats judged as the first time.
        h("td", { dataset: { stat: "swap" } }, s.swap_repeats === 0 ? "–" : `${pct(s.swap_consistency)} (${fmt(s.swap_consistent, 0)}/${fmt(s.swap_repeats, 0)})`),
        h("td", {}, s.paused ? h("span", { class: "badge warning", i18n: "quality.paused" }) : t("quality.active"))))))));

  // Charts: honeypot accuracy per trainer, α over time.
  const answered = trainers.filter((s) => s.gold_answered > 0);
  const charts = h("section", { class: "card", id: "quality-charts" }, h("h2", { i18n: "quality.charts" }));
  if (answered.length > 0) {
    charts.append(h("h3", { i18n: "quality.chartHoneypot" }), chart({
      grid: { left: 48, right: 16, top: 16, bottom: 40 },
      tooltip: { trigger: "axis", valueFormatter: (v) => pct(v / 100) },
      xAxis: { type: "category", data: answered.map((s) => s.display_name) },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: (v) => pct(v / 100) } },
      series: [{ type: "bar", name: t("quality.honeypot"), data: answered.map((s) => Math.round(s.honeypot_accuracy * 1000) / 10),
        markLine: { symbol: "none", data: [{ yAxis: campaign.checks.honeypot_threshold * 100, name: t("quality.threshold") }] } }],
    }, { height: 240, label: t("quality.chartHoneypot") }));
  }
  const measures = ["alpha_ranking", "alpha_flags", "alpha_ratings"];
  const points = ag.history.filter((p) => p.value != null);
  if (points.length > 0) {
    const names = { alpha_ranking: t("quality.alphaRanking"), alpha_flags: t("quality.alphaFlags"), alpha_ratings: t("quality.alphaRatings") };
    charts.append(h("h3", { i18n: "quality.chartAlpha" }), chart({
      grid: { left: 48, right: 16, top: 32, bottom: 40 },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "time" },
      yAxis: { type: "value", min: (v) => Math.min(0, Math.floor(v.min * 10) / 10), max: 1 },
      series: measures.filter((m) => points.some((p) => p.measure === m)).map((m) => ({ type: "line", name: names[m], showSymbol: true,
        data: points.filter((p) => p.measure === m).map((p) => [p.at, Math.round(p.value * 1000) / 1000]) })),
    }, { height: 260, label: t("quality.chartAlpha") }));
  }
  if (answered.length === 0 && points.length === 0) charts.append(h("p", { class: "muted", i18n: "quality.noCharts" }));
  page.append(charts, pauses);
  if (gold) page.append(gold);
  return page;
}

// pausesSection lists the trainers paused by their honeypot accuracy, with a lift button
// (the server refuses those who may not lift).
async function pausesSection(campaignId) {
  const box = h("section", { class: "card", id: "quality-pauses" }, h("h2", { i18n: "quality.pauses" }));
  const { pauses } = await api("GET", `/campaigns/${campaignId}/pauses`);
  if (pauses.length === 0) {
    box.append(h("p", { class: "muted", i18n: "quality.noPauses" }));
    return box;
  }
  const status = h("div");
  box.append(h("ul", {}, pauses.map((p) => h("li", { dataset: { trainer: p.trainer_id } }, p.login, " · ",
    t("quality.pausedAt", { at: new Date(p.paused_at).toLocaleString(locale()), accuracy: pct(p.accuracy), n: fmt(p.gold_items, 0) }), " ",
    p.lifted_at ? h("span", { class: "muted", i18n: "quality.lifted" }) : h("button", { type: "button", class: "secondary", dataset: { role: "lift" },
      onclick: async () => {
        try {
          await api("DELETE", `/campaigns/${campaignId}/pauses/${p.trainer_id}`);
          replace(box, ...(await pausesSection(campaignId)).childNodes);
        } catch (err) {
          replace(status, errorBox(err));
        }
      } }, t("quality.lift"))))), status);
  return box;
}

// goldSection is for experts and admins: the gold items with how trainers did, the items
// that could be promoted, and a form that makes an item gold. Others get nothing (403).
async function goldSection(campaignId) {
  let list;
  try {
    list = await api("GET", `/campaigns/${campaignId}/gold`);
  } catch {
    return null;
  }
  const box = h("section", { class: "card", id: "quality-gold" }, h("h2", { i18n: "quality.gold" }),
    h("p", { class: "muted", i18n: "quality.goldHint" }));
  const answerText = (a) => (a.kind === "defect" ? t("quality.answer.defect", { flag: t(`flag.${a.flag}`) })
    : a.kind === "best" ? t("quality.answer.best") : t("quality.answer.ordering"));
  box.append(list.gold.length === 0 ? h("p", { class: "muted", i18n: "quality.noGold" }) : h("table", { class: "table", id: "gold-items" },
    h("thead", {}, h("tr", {}, ["quality.question", "quality.answer", "quality.source", "quality.goldScore", ""].map((k) => h("th", k ? { i18n: k } : {})))),
    h("tbody", {}, list.gold.map((g) => h("tr", { dataset: { item: g.item_id } }, h("td", {}, g.question), h("td", {}, answerText(g.answer)),
      h("td", {}, t(`quality.source.${g.source}`)), h("td", {}, `${fmt(g.correct, 0)}/${fmt(g.answered, 0)}`),
      h("td", {}, h("button", { type: "button", class: "secondary", dataset: { role: "remove-gold" }, onclick: async () => {
        await api("DELETE", `/campaigns/${campaignId}/gold/${g.item_id}`);
        replace(box, ...(await goldSection(campaignId)).childNodes);
      } }, t("quality.removeGold"))))))));
  if (list.promotable.length > 0) {
    box.append(h("h3", { i18n: "quality.promotable" }), h("ul", { id: "gold-promotable" }, list.promotable.map((u) => h("li", {}, u.question, " · ",
      t("quality.unanimous", { n: fmt(u.judgments, 0) }), " ", h("button", { type: "button", class: "secondary", dataset: { role: "promote" }, onclick: async () => {
        await api("POST", `/campaigns/${campaignId}/gold/promote`, { item_id: u.item_id });
        replace(box, ...(await goldSection(campaignId)).childNodes);
      } }, t("quality.promote"))))));
  }
  // The expert's form: an item by its number, then its candidates to choose the answer from.
  const item = h("input", { id: "gold-item", type: "number", min: 1, dataset: { field: "item_id" } });
  const pick = h("div", { id: "gold-candidates" });
  const status = h("div");
  const form = h("form", { class: "inline-form", id: "gold-form" }, h("h3", { i18n: "quality.newGold" }),
    h("label", { class: "field" }, h("span", { i18n: "quality.itemNumber" }), item),
    h("button", { type: "button", class: "secondary", id: "gold-load", i18n: "quality.loadItem", onclick: async () => {
      try {
        const { item: draft } = await api("GET", `/campaigns/${campaignId}/gold/${Number(item.value)}`);
        const kind = h("select", { id: "gold-kind", dataset: { field: "answer.kind" } },
          ["best", "defect"].map((k) => h("option", { value: k }, t(`quality.kind.${k}`))));
        const flag = h("select", { id: "gold-flag", dataset: { field: "answer.flag" } }, FLAGS.map((f) => h("option", { value: f }, t(`flag.${f}`))));
        replace(pick, h("p", {}, draft.question),
          draft.candidates.map((c, i) => h("label", { class: "check gold-candidate" },
            h("input", { type: "radio", name: "gold-candidate", value: c.id, checked: i === 0 }),
            h("strong", {}, letter(c.position)), " ", c.content.slice(0, 200))),
          h("label", { class: "field" }, h("span", { i18n: "quality.kind" }), kind),
          h("label", { class: "field" }, h("span", { i18n: "quality.flag" }), flag),
          h("button", { type: "submit", id: "gold-save", i18n: "quality.saveGold" }));
      } catch (err) {
        showError(form, err, status);
      }
    } }), pick, status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const candidate = Number(form.querySelector('input[name="gold-candidate"]:checked')?.value);
    const kind = form.querySelector("#gold-kind").value;
    const answer = kind === "defect" ? { kind, candidate_id: candidate, flag: form.querySelector("#gold-flag").value } : { kind, candidate_id: candidate };
    try {
      await api("POST", `/campaigns/${campaignId}/gold`, { item_id: Number(item.value), answer });
      replace(box, ...(await goldSection(campaignId)).childNodes);
    } catch (err) {
      showError(form, err, status);
    }
  });
  box.append(form);
  return box;
}
