// leaderboard: a project's Bradley–Terry board (issue 15) — scores with interval bars, the
// win-rate matrix as a heat map, scores over time as versions are published — with the
// version-against-version comparison and, for managers, the voter check. Every chart is
// chart.js (ECharts); entry names are identifiers, so they are marked translate="no".
import { api } from "../api.js";
import { can } from "../session.js";
import { chart } from "../chart.js";
import { errorBox, field, formatNumber, formatTime, h, replace } from "../dom.js";
import { locale, t } from "../i18n.js";

const BY = ["version", "model", "model_version"];

// CHOICES are the board's filters with their values; the first is the default. Persona
// and dimension are free (checked by the server).
const CHOICES = { by: BY, counted: ["checked", "submitted"], source: ["blind", "all"], style: ["none", "control"] };

// leaderboardPage shows the board chosen by query (the hash's query string, e.g.
// #/projects/demo/leaderboard?persona=customs-helper&style=control), so a board can be
// linked to and survives a reload; changing a filter rewrites the hash in place.
export async function leaderboardPage(slug, query = new URLSearchParams()) {
  const { project, personas } = await api("GET", `/projects/${slug}/personas`);
  const state = { by: "version", persona: "", dimension: "", counted: "checked", source: "blind", style: "none" };
  for (const name of Object.keys(state)) {
    const v = query.get(name);
    if (v != null && (!CHOICES[name] || CHOICES[name].includes(v))) state[name] = v;
  }
  const select = (name, options, labelOf) => {
    const el = h("select", { name, id: `board-${name}` },
      options.map((v) => h("option", { value: v, selected: state[name] === v }, labelOf(v))));
    el.addEventListener("change", () => {
      state[name] = el.value;
      if (name === "persona") {
        state.dimension = "";
        if (state.persona) compare.persona.value = state.persona;
      }
      load();
    });
    return el;
  };
  const controls = h("form", { class: "inline-form board-controls", id: "board-controls" });
  const body = h("div", { id: "board" });
  const voters = h("div", { id: "board-voters" });

  const personaLabel = (s) => (s === "" ? t("board.allPersonas") : (personas.find((p) => p.slug === s)?.name ?? s));
  // loads counts the boards asked for: an answer that comes back after a newer question was
  // asked (a person changing two filters quickly) is dropped, never drawn over the newer one.
  let loads = 0;
  async function load() {
    const turn = ++loads;
    const q = new URLSearchParams(Object.entries(state).filter(([k, v]) => v !== "" && v !== CHOICES[k]?.[0]));
    history.replaceState(null, "", `#/projects/${slug}/leaderboard${q.size ? `?${q}` : ""}`);
    replace(body, h("p", { class: "muted", i18n: "board.loading" }));
    let board;
    try {
      board = await api("GET", `/projects/${slug}/leaderboard?${q}`);
    } catch (err) {
      if (turn === loads) replace(body, errorBox(err));
      return;
    }
    if (turn !== loads) return;
    replace(controls,
      field("board.by", select("by", BY, (v) => t(`board.by.${v}`))),
      field("board.persona", select("persona", ["", ...personas.map((p) => p.slug)], personaLabel)),
      field("board.dimension", select("dimension", ["", ...board.dimensions.map((d) => d.key)],
        (k) => (k === "" ? t("board.ranking") : dimLabel(board.dimensions.find((d) => d.key === k))))),
      field("board.counted", select("counted", ["checked", "submitted"], (v) => t(`board.counted.${v}`))),
      field("board.source", select("source", ["blind", "all"], (v) => t(`board.source.${v}`))),
      // Style control (issue 15): length and markdown as covariates of the fit.
      field("board.style", select("style", ["none", "control"], (v) => t(`board.style.${v}`))));
    replace(body, renderBoard(board));
    if (can(project.id, "project.manage")) {
      try {
        const v = await api("GET", `/projects/${slug}/leaderboard/voters?${q}`);
        if (turn === loads) replace(voters, renderVoters(v));
      } catch (err) {
        if (turn === loads) replace(voters, errorBox(err));
      }
    }
  }
  const compare = compareSection(slug, project, personas, state);
  await load();
  return h("div", { class: "page" },
    h("nav", { class: "crumbs" }, h("a", { href: "#/", i18n: "projects.title" }), " / ",
      h("a", { href: `#/projects/${slug}` }, project.name), " / ", h("span", { i18n: "board.title" })),
    h("h1", { i18n: "board.title" }),
    h("p", { class: "muted", i18n: "board.help" }),
    controls, body, compare.section, voters);
}

function dimLabel(d) {
  if (!d) return "";
  return locale() === "en" ? d.label_en : d.label;
}

// filterLine says on the board which votes it counts, where they come from, and whether
// style is controlled for.
function filterLine(b) {
  return h("p", { class: "board-filter", id: "board-filter", dataset: { style: b.style_control ? "control" : "none" } },
    t(`board.counted.${b.counted}`), " · ", t(`board.source.${b.source}`), " · ",
    t(b.style_control ? "board.style.on" : "board.style.off"), " · ",
    t("board.method", { rounds: formatNumber(b.rounds), votes: formatNumber(b.votes), judgments: formatNumber(b.judgments) }));
}

function renderBoard(b) {
  const out = [filterLine(b)];
  if (b.notices.includes("refreshing")) {
    out.push(h("p", { class: "notice", id: "board-refreshing", i18n: "board.refreshing" }));
    return out;
  }
  if (b.stale) out.push(h("p", { class: "notice", id: "board-stale" }, t("board.stale", { at: formatTime(b.refreshed_at) })));
  if (b.notices.includes("too_few_entries")) {
    out.push(h("p", { class: "notice", id: "board-too-few", i18n: "board.tooFew" }));
    return out;
  }
  if (b.notices.includes("disconnected")) {
    out.push(h("p", { class: "notice", id: "board-disconnected" }, t("board.disconnected", { n: formatNumber(b.parts.length) })));
  }
  b.parts.forEach((part, i) => {
    if (b.parts.length > 1) out.push(h("h2", {}, t("board.part", { n: formatNumber(i + 1) })));
    if (part.smoothed) out.push(h("p", { class: "muted", i18n: "board.smoothed" }));
    out.push(entryTable(part, b), intervalChart(part));
    if (b.style_control) out.push(styleTable(part));
    if (b.by === "version") out.push(overTime(part));
  });
  out.push(heatMap(b));
  return out;
}

// styleTable lists a style-controlled part's covariate coefficients: how much a reply's
// length or markdown, rather than its content, moved the votes.
function styleTable(part) {
  return h("div", { class: "board-style", id: "board-style-coefficients" },
    h("h3", { i18n: "board.styleTitle" }),
    h("p", { class: "muted", i18n: "board.styleHelp" }),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["board.covariate", "board.coefficient", "board.interval", "board.differing"].map((k) => h("th", { i18n: k })))),
      // A covariate on which the replies never differed has no estimate: its 0 is the
      // prior's, and is not shown as a finding.
      h("tbody", {}, part.style.map((c) => h("tr", { dataset: { covariate: c.name } },
        h("td", {}, t(`board.covariate.${c.name}`)),
        h("td", {}, c.differing ? formatNumber(c.value, 2) : "—"),
        h("td", {}, c.differing ? `${formatNumber(c.lower, 2)} – ${formatNumber(c.upper, 2)}` : t("board.styleNoDifference")),
        h("td", {}, formatNumber(c.differing)))))));
}

function entryTable(part, b) {
  return h("table", { class: "table board-table" },
    h("thead", {}, h("tr", {}, ["board.rank", "board.entry", "board.score", "board.interval", "board.votes", "board.winRate"].map((k) => h("th", { i18n: k })))),
    h("tbody", {}, part.entries.map((e) => h("tr", { dataset: { entry: e.key } },
      h("td", { class: "rank" }, formatNumber(e.rank)),
      h("td", {}, h("span", { translate: "no" }, e.label),
        e.reference ? h("span", { class: "badge", i18n: "board.reference" }) : null,
        e.preliminary ? h("span", { class: "badge warn", title: t("board.preliminaryHint", { n: formatNumber(b.min_votes) }), i18n: "board.preliminary" }) : null),
      h("td", { class: "score" }, formatNumber(e.score, 0)),
      h("td", {}, `${formatNumber(e.lower, 0)} – ${formatNumber(e.upper, 0)}`),
      h("td", {}, formatNumber(e.votes)),
      h("td", {}, formatNumber(e.win_rate * 100, 1) + "%")))));
}

// intervalChart draws each entry's 95% interval as a floating bar (an invisible bar up to
// the lower end, stacked under one as long as the interval) with the score as a point.
function intervalChart(part) {
  const es = [...part.entries].reverse();
  const lo = Math.min(...es.map((e) => e.lower));
  return h("div", { translate: "no" }, chart({
    grid: { left: 160, right: 24, top: 16, bottom: 32 },
    xAxis: { type: "value", min: Math.floor(lo / 50) * 50, scale: true },
    yAxis: { type: "category", data: es.map((e) => e.label) },
    tooltip: { trigger: "item" },
    series: [
      { type: "bar", stack: "ci", data: es.map((e) => e.lower), itemStyle: { color: "transparent" }, silent: true },
      { type: "bar", stack: "ci", data: es.map((e) => Math.max(e.upper - e.lower, 0.5)), itemStyle: { color: "#9bb8ef" }, barWidth: 10 },
      { type: "scatter", data: es.map((e, i) => [e.score, i]), symbolSize: 10, itemStyle: { color: "#1f4fb4" } },
    ],
  }, { height: 60 + 32 * es.length, label: t("board.intervalChart") }));
}

// overTime plots each version's score, in the order the versions were published, with the
// date each was published under its name. A category axis keeps versions published minutes
// apart from piling up on one day of a time axis.
function overTime(part) {
  const es = part.entries.filter((e) => e.published_at).sort((a, b) => a.published_at.localeCompare(b.published_at));
  if (es.length < 2) return null;
  const day = (s) => new Date(s).toLocaleDateString(locale());
  return h("div", { translate: "no" }, h("h3", { i18n: "board.overTime" }), chart({
    grid: { left: 56, right: 24, top: 24, bottom: 56 },
    xAxis: { type: "category", data: es.map((e) => `${e.label}\n${day(e.published_at)}`) },
    yAxis: { type: "value", scale: true },
    tooltip: { trigger: "axis" },
    series: [
      { type: "line", data: es.map((e) => e.score), label: { show: true, formatter: (p) => formatNumber(p.value, 0) } },
      { type: "line", data: es.map((e) => e.upper), lineStyle: { type: "dashed", opacity: 0.5 }, symbol: "none" },
      { type: "line", data: es.map((e) => e.lower), lineStyle: { type: "dashed", opacity: 0.5 }, symbol: "none" },
    ],
  }, { height: 260, label: t("board.overTime") }));
}

// heatMap is the win-rate matrix: how often the row beat the column, ties as halves.
function heatMap(b) {
  const keys = b.parts.flatMap((p) => p.entries.map((e) => e.key));
  const label = Object.fromEntries(b.parts.flatMap((p) => p.entries.map((e) => [e.key, e.label])));
  const data = b.matrix.map((c) => [keys.indexOf(c.col), keys.indexOf(c.row), Math.round(c.win_rate * 100)]);
  return h("div", { id: "board-matrix" }, h("h3", { i18n: "board.matrix" }), h("p", { class: "muted", i18n: "board.matrixHelp" }),
    h("div", { translate: "no" }, chart({
      grid: { left: 160, right: 24, top: 16, bottom: 80 },
      xAxis: { type: "category", data: keys.map((k) => label[k]), axisLabel: { rotate: 30 } },
      // Rows read top to bottom in the board's order, so the empty diagonal runs from the
      // top left, as a table's would.
      yAxis: { type: "category", data: keys.map((k) => label[k]), inverse: true },
      visualMap: { min: 0, max: 100, calculable: false, orient: "horizontal", left: "center", bottom: 0, show: false },
      series: [{ type: "heatmap", data, label: { show: true, formatter: (p) => `${p.value[2]}%` } }],
    }, { height: 120 + 40 * keys.length, label: t("board.matrix") })));
}

// compareSection sets one persona's version B against version A, and offers a blind
// campaign where they were compared too little. It counts the votes the board above counts
// (state: counted, source, style), so a style-controlled board gives a style-controlled
// comparison.
function compareSection(slug, project, personas, state) {
  const persona = h("select", { name: "persona", id: "compare-persona" },
    personas.map((p) => h("option", { value: p.slug, selected: p.slug === state.persona }, p.name)));
  const a = h("input", { name: "a", id: "compare-a", type: "number", min: 1, value: 1 });
  const b = h("input", { name: "b", id: "compare-b", type: "number", min: 1, value: 2 });
  const out = h("div", { id: "compare-result" });
  const form = h("form", { class: "inline-form", id: "compare-form" },
    field("board.persona", persona), field("board.versionA", a), field("board.versionB", b),
    h("button", { type: "submit", i18n: "board.compare" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const q = new URLSearchParams({ persona: persona.value, a: a.value, b: b.value,
        counted: state.counted, source: state.source, style: state.style });
      const c = await api("GET", `/projects/${slug}/leaderboard/compare?${q}`);
      replace(out, renderComparison(slug, project, c));
    } catch (err) {
      replace(out, errorBox(err));
    }
  });
  return { persona, section: h("section", { class: "card", id: "compare" }, h("h2", { i18n: "board.compareTitle" }), form, out) };
}

function renderComparison(slug, project, c) {
  const pct = (x) => (x == null ? "—" : formatNumber(x * 100, 1) + "%");
  const pts = (x) => (x == null ? "—" : formatNumber(x, 0));
  const rows = [c.overall, ...c.dimensions].map((d) => h("tr", { dataset: { dimension: d.dimension } },
    h("td", {}, d.dimension === "" ? t("board.ranking") : (locale() === "en" ? d.label_en : d.label)),
    h("td", {}, formatNumber(d.votes)),
    h("td", {}, pct(d.win_rate), d.win_rate == null ? null : ` (${pct(d.win_lower)} – ${pct(d.win_upper)})`),
    h("td", {}, pts(d.diff), d.diff == null ? null : ` (${pts(d.diff_lower)} – ${pts(d.diff_upper)})`),
    h("td", { class: `verdict ${d.verdict}` }, t(`board.verdict.${d.verdict}`, { n: formatNumber(d.needed) }))));
  const create = c.campaign && can(project.id, "project.manage")
    ? h("button", { type: "button", id: "compare-campaign", i18n: "board.createCampaign", onclick: async (e) => {
      try {
        await api("POST", `/projects/${slug}/campaigns`, c.campaign);
        location.hash = `#/projects/${slug}/campaigns`;
      } catch (err) {
        e.target.after(errorBox(err));
      }
    } })
    : null;
  const filter = h("p", { class: "muted", id: "compare-filter", dataset: { style: c.style_control ? "control" : "none" } },
    t(`board.counted.${c.counted}`), " · ", t(`board.source.${c.source}`), " · ", t(c.style_control ? "board.style.on" : "board.style.off"));
  if (c.notices.includes("refreshing")) {
    return [filter, h("p", { class: "notice", id: "compare-refreshing", i18n: "board.compareRefreshing" })];
  }
  return [
    c.stale ? h("p", { class: "notice", id: "compare-stale" }, t("board.compareStale", { at: formatTime(c.refreshed_at) })) : null,
    h("p", { class: "verdict-sentence", id: "compare-verdict" }, locale() === "en" ? c.verdict_en : c.verdict_zh),
    filter,
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["board.dimension", "board.votes", "board.winRateB", "board.diff", "board.verdictTitle"].map((k) => h("th", { i18n: k })))),
      h("tbody", {}, rows)),
    c.campaign ? h("p", { class: "muted", i18n: "board.campaignHint" }) : null,
    create,
  ];
}

function renderVoters(v) {
  if (v.notices.includes("refreshing")) {
    return h("section", { class: "card" }, h("h2", { i18n: "board.voters" }),
      h("p", { class: "notice", id: "voters-refreshing", i18n: "board.votersRefreshing" }));
  }
  if (v.voters.length === 0) return null;
  return h("section", { class: "card" }, h("h2", { i18n: "board.voters" }),
    h("p", { class: "muted" }, t("board.votersHelp", { alpha: formatNumber(v.alpha * 100) + "%" })),
    v.stale ? h("p", { class: "notice", id: "voters-stale" }, t("board.votersStale", { at: formatTime(v.refreshed_at) })) : null,
    h("table", { class: "table", id: "voter-list" },
      h("thead", {}, h("tr", {}, ["board.trainer", "board.votes", "board.evidence", "board.firstRate"].map((k) => h("th", { i18n: k })))),
      h("tbody", {}, v.voters.map((x) => h("tr", { dataset: { trainer: x.trainer_id } },
        h("td", { translate: "no" }, x.login, x.flagged ? h("span", { class: "badge warn", i18n: "board.flagged" }) : null),
        h("td", {}, formatNumber(x.votes)),
        h("td", {}, formatNumber(x.evidence, 2)),
        h("td", {}, x.decided ? `${formatNumber(x.first_rate * 100, 0)}% / ${formatNumber(x.first_expected * 100, 0)}% (${formatNumber(x.decided)})` : "—"))))));
}
