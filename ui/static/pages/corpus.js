// corpus: one knowledge base. Its status (chunks embedded, or why embedding is paused),
// document import, a search that shows each passage's score parts, retrieval metrics from
// trainers' relevance marks with two configurations side by side, and stale gold replies.
import { api, upload } from "../api.js";
import { errorBox, field, formatNumber, formatTime, h, languageName, replace, showError, term } from "../dom.js";
import { t } from "../i18n.js";
import { can } from "../session.js";

let poll = null;

export function stopCorpusPoll() {
  clearTimeout(poll);
  poll = null;
}

export async function corpusPage(id) {
  stopCorpusPoll();
  const [{ corpus, embedders, stale_gold: staleGold }, { documents, total }] = await Promise.all([
    api("GET", `/corpora/${id}`),
    api("GET", `/corpora/${id}/documents?limit=100`),
  ]);
  const statusBox = h("div", { id: "corpus-status" });
  const showStatus = (c) => {
    const pct = c.chunk_count ? Math.round((100 * c.embedded_count) / c.chunk_count) : 100;
    replace(statusBox,
      h("p", {}, t("corpus.counts", { docs: c.document_count, chunks: c.chunk_count, embedded: c.embedded_count })),
      h("progress", { max: 100, value: pct, id: "corpus-progress" }),
      indexCheck(c.index_check),
      c.embedding_error ? h("p", { class: "error", id: "corpus-paused", role: "alert" }, c.embedding_error) : null);
    // While embedding runs in the background, keep the figures current.
    if (c.embedded_count < c.chunk_count && document.body.contains(statusBox)) {
      poll = setTimeout(async () => {
        try {
          showStatus((await api("GET", `/corpora/${id}`)).corpus);
        } catch {
          /* the next navigation shows the error */
        }
      }, 2000);
    }
  };
  showStatus(corpus);

  return h("div", { class: "page corpus" },
    h("nav", { class: "crumbs" }, h("a", { href: "#/", i18n: "projects.title" }), " / ", corpus.name),
    h("h1", {}, corpus.name),
    h("p", { class: "muted", "data-content": true }, corpus.description),
    h("p", { class: "muted" }, t("corpus.settings", { embedder: term("embedder", corpus.embedder), dim: formatNumber(corpus.dimension), tokens: formatNumber(corpus.chunk_tokens), overlap: formatNumber(corpus.chunk_overlap) })),
    statusBox,
    can(corpus.project_id, "knowledge.write") ? importSection(corpus, embedders) : null,
    searchSection(corpus),
    evaluateSection(corpus),
    staleSection(staleGold),
    documentsSection(documents, total));
}

// indexCheck is the last check of the corpus's vector index (issue 17): its recall on the
// questions trainers asked of it lately, and whether it was rebuilt for being poor.
function indexCheck(check) {
  if (!check) return h("p", { class: "muted", id: "corpus-index-check", i18n: "corpus.index_unchecked" });
  const when = formatTime(check.checked_at);
  if (!check.questions) return h("p", { class: "muted", id: "corpus-index-check" }, t("corpus.index_no_questions", { when }));
  const notes = [];
  if (check.after_rebuild) notes.push(t("corpus.index_after_rebuild"));
  if (!check.judged) notes.push(t("corpus.index_not_judged"));
  if (check.poor) notes.push(t("corpus.index_poor"));
  if (check.rebuilt) notes.push(t("corpus.index_rebuilt"));
  return h("p", { class: check.poor ? "warning" : "muted", id: "corpus-index-check", dataset: { poor: String(check.poor) } },
    t("corpus.index_check", { recall: check.recall.toFixed(3), questions: formatNumber(check.questions), none: formatNumber(check.none_found), when }),
    notes.length ? [" · ", notes.join(" ")] : null); // after "checked at …", which ends without a stop; the notes are sentences
}

function importSection(corpus) {
  const files = h("input", { type: "file", multiple: true, id: "import-files", accept: ".txt,.md,.markdown,.html,.htm,.docx,.jsonl,.csv,.xlsx,.pdf" });
  const mapping = ["slug", "title", "body", "lang", "tags"].map((k) => [k, h("input", { name: `${k}_field`, placeholder: k, size: 10, translate: "no", class: "code" })]);
  const sheet = h("input", { name: "sheet", size: 10 }); // an .xlsx workbook's sheet; empty: the first
  const result = h("div", { id: "import-result" });
  const button = h("button", { type: "submit", i18n: "corpus.import" });
  const form = h("form", { class: "card", id: "import-form" },
    h("h2", { i18n: "corpus.importTitle" }),
    h("p", { class: "muted", i18n: "corpus.importHint" }),
    files,
    h("details", {}, h("summary", { i18n: "corpus.mapping" }), h("div", { class: "row" }, mapping.map(([k, input]) => field(`corpus.field.${k}`, input)), field("corpus.field.sheet", sheet))),
    h("div", { class: "row" }, button), result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!files.files.length) {
      replace(result, errorBox({ message: t("corpus.pickFiles") }));
      return;
    }
    button.disabled = true;
    replace(result, h("p", { class: "muted" }, t("corpus.importing", { n: files.files.length })));
    try {
      const query = Object.fromEntries(mapping.map(([k, input]) => [`${k}_field`, input.value.trim()]));
      query.sheet = sheet.value.trim();
      const { results, summary } = await upload(`/corpora/${corpus.id}/documents`, [...files.files], query);
      replace(result,
        h("p", { id: "import-summary", class: summary.failed ? "error" : "ok" }, t("corpus.summary", summary)),
        h("table", { class: "table", id: "import-results" },
          h("thead", {}, h("tr", {}, ["corpus.where", "corpus.outcome", "corpus.chunks", "corpus.error"].map((k) => h("th", { i18n: k })))),
          h("tbody", {}, results.map((r) => h("tr", { dataset: { outcome: r.outcome } },
            h("td", {}, r.where), h("td", {}, t(`corpus.outcome.${r.outcome}`)), h("td", { class: "num" }, r.chunks),
            h("td", {}, r.error || (r.stale_gold ? t("corpus.staleNow", { n: r.stale_gold }) : "")))))));
    } catch (err) {
      showError(form, err, result);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function num(id, value, attrs = {}) {
  return h("input", { id, type: "number", value, size: 5, ...attrs });
}

const fmt = (x, digits = 3) => formatNumber(x, digits, true);

function searchSection(corpus) {
  const q = h("input", { id: "search-query", type: "search", name: "q", placeholder: t("search.placeholder"), size: 40 });
  const k = num("search-k", 10, { min: 1, max: 100, name: "k" });
  const vw = num("search-vector-weight", 1, { min: 0, step: 0.1, name: "vector_weight" });
  const tw = num("search-text-weight", 1, { min: 0, step: 0.1, name: "text_weight" });
  const rrf = num("search-rrf-k", 60, { min: 1, max: 1000, name: "rrf_k" });
  const out = h("div", { id: "search-results" });
  const form = h("form", { class: "card", id: "search-form" },
    h("h2", { i18n: "search.title" }),
    h("div", { class: "row" }, q, h("button", { type: "submit", i18n: "search.go" })),
    h("div", { class: "row" }, field("search.k", k), field("search.vectorWeight", vw), field("search.textWeight", tw), field("search.rrfK", rrf)),
    out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const params = new URLSearchParams({ corpus: corpus.id, q: q.value, k: k.value, vector_weight: vw.value, text_weight: tw.value, rrf_k: rrf.value });
    try {
      const { passages, note } = await api("GET", `/search?${params}`);
      if (!passages.length) {
        replace(out, note ? h("p", { class: "notice" }, note) : null, h("p", { class: "muted", i18n: "search.none" }));
        return;
      }
      replace(out, note ? h("p", { class: "notice", id: "search-note" }, note) : null, h("table", { class: "table", id: "search-table" },
        h("thead", {}, h("tr", {}, ["search.rank", "search.score", "search.vector", "search.text", "search.document", "search.passage"].map((key) => h("th", { i18n: key })))),
        h("tbody", {}, passages.map((p, i) => h("tr", { dataset: { chunk: p.chunk_id } },
          h("td", { class: "num" }, i + 1),
          h("td", { class: "num score" }, fmt(p.score, 4)),
          h("td", { class: "num" }, p.vector_rank ? `#${p.vector_rank} · ${fmt(p.vector_score)}` : "–"),
          h("td", { class: "num" }, p.text_rank ? `#${p.text_rank} · ${fmt(p.text_score)}` : "–"),
          h("td", {}, h("code", {}, p.slug), ` v${p.version}`, p.heading_path.length ? h("div", { class: "muted" }, p.heading_path.join(" › ")) : null,
            p.page ? h("div", { class: "muted page" }, t("passage.page", { n: p.page })) : null),
          h("td", { class: "passage-text" }, p.text))))));
    } catch (err) {
      showError(form, err, out);
    }
  });
  return form;
}

function evaluateSection(corpus) {
  const config = (n, defaults) => {
    const at = (f) => `configs[${n - 1}].${f}`; // as the server names a wrong value
    const inputs = {
      name: h("input", { value: defaults.name, size: 12, dataset: { eval: "name", field: at("name") } }),
      k: num(`eval-${n}-k`, defaults.k, { min: 1, max: 100, "data-field": at("k") }),
      vector: num(`eval-${n}-vector`, defaults.vector, { min: 0, step: 0.1, "data-field": at("fusion.vector_weight") }),
      text: num(`eval-${n}-text`, defaults.text, { min: 0, step: 0.1, "data-field": at("fusion.text_weight") }),
      rrf: num(`eval-${n}-rrf`, 60, { min: 1, "data-field": at("fusion.rrf_k") }),
    };
    const box = h("fieldset", { dataset: { field: `configs[${n - 1}]` } }, h("legend", {}, t("eval.config", { n })),
      field("eval.name", inputs.name), field("search.k", inputs.k), field("search.vectorWeight", inputs.vector),
      field("search.textWeight", inputs.text), field("search.rrfK", inputs.rrf));
    const value = () => ({ name: inputs.name.value, k: Number(inputs.k.value),
      fusion: { rrf_k: Number(inputs.rrf.value), vector_weight: Number(inputs.vector.value), text_weight: Number(inputs.text.value) } });
    return { box, value };
  };
  const a = config(1, { name: "hybrid", k: 5, vector: 1, text: 1 });
  const b = config(2, { name: "full text", k: 5, vector: 0, text: 1 });
  const out = h("div", { id: "eval-results" });
  const form = h("form", { class: "card", id: "eval-form" },
    h("h2", { i18n: "eval.title" }), h("p", { class: "muted", i18n: "eval.hint" }),
    h("div", { class: "row" }, a.box, b.box), h("button", { type: "submit", i18n: "eval.run" }), out);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const { results } = await api("POST", `/corpora/${corpus.id}/evaluate`, { configs: [a.value(), b.value()] });
      if (results.every((r) => r.queries === 0)) {
        replace(out, h("p", { class: "muted", id: "eval-empty", i18n: "eval.none" }));
        return;
      }
      replace(out, h("table", { class: "table", id: "eval-table" },
        h("thead", {}, h("tr", {}, ["eval.name", "eval.queries", "eval.recall", "eval.ndcg", "eval.mrr"].map((key) => h("th", { i18n: key })))),
        h("tbody", {}, results.map((r) => h("tr", {},
          h("td", {}, `${r.config.name} (k=${r.config.k})`), h("td", { class: "num" }, formatNumber(r.queries)),
          h("td", { class: "num" }, fmt(r.recall)), h("td", { class: "num" }, fmt(r.ndcg)), h("td", { class: "num" }, fmt(r.mrr))))),
        // What each metric means, in a line: the names are the field's own, the sense is not.
        h("ul", { class: "plain muted", id: "eval-help" }, ["recall", "ndcg", "mrr"].map((m) =>
          h("li", {}, `${t(`eval.${m}`)}：${t(`eval.help.${m}`)}`)))));
    } catch (err) {
      showError(form, err, out);
    }
  });
  return form;
}

function staleSection(stale) {
  if (!stale.length) return null;
  return h("section", { class: "card notice", id: "stale-gold" },
    h("h2", { i18n: "corpus.staleTitle" }),
    h("ul", { class: "plain" }, stale.map((s) => h("li", {},
      t("corpus.staleItem", { judgment: s.judgment_id, turn: s.turn_id, doc: s.document_slug, cited: s.cited_version, current: s.current_version })))));
}

function documentsSection(documents, total) {
  return h("section", { class: "card" },
    h("h2", { i18n: "corpus.documentsTitle" }),
    total > documents.length ? h("p", { class: "muted" }, t("corpus.documentsShown", { shown: documents.length, total })) : null,
    documents.length === 0 ? h("p", { class: "muted", i18n: "corpus.noDocuments" }) :
      h("table", { class: "table", id: "document-table" },
        h("thead", {}, h("tr", {}, ["corpus.slug", "corpus.docTitle", "corpus.lang", "corpus.version", "corpus.updated"].map((k) => h("th", { i18n: k })))),
        h("tbody", {}, documents.map((d) => h("tr", {},
          h("td", {}, h("code", {}, d.slug)), h("td", { lang: d.lang || null }, d.title), h("td", {}, languageName(d.lang)), h("td", { class: "num" }, `v${d.version}`),
          h("td", {}, formatTime(d.updated_at)))))));
}
