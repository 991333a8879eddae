// revisions: a judgment's revisions, readable after the fact (issue 14). Every revision of
// one trainer's judgment of a turn and the reviewers' fixes of it, newest first, each with
// who made it, the review decisions about it (and any appeal), and what changed from the
// revision before: the ranking's order, scores, flags, and the corrected and gold replies
// as the server's diff (POST /diff, the one the review stream shows a fix with).
import { api } from "../api.js";
import { formatTime, h } from "../dom.js";
import { locale, t } from "../i18n.js";
import { diffView, rankOf, rankingText, stopQC } from "./qc.js";

const letter = (position) => String.fromCharCode(64 + position);

// scores flattens a stored ratings object ({candidate: {dimension: {value, min, max}}}) to
// "candidate/dimension" → value.
function scores(ratings) {
  const out = {};
  for (const [cand, dims] of Object.entries(ratings || {})) {
    for (const [dim, v] of Object.entries(dims || {})) out[`${cand}/${dim}`] = v?.value ?? v;
  }
  return out;
}

// dimensionName is a rubric dimension's label in the interface's language; a key the
// persona's rubric no longer has (or a rubric the reader may not load) shows as the key.
let dimensionName = (key) => key;

// marksView shows a revision's scores and flags per candidate, in the candidates' order.
function marksView(r, cands) {
  const rows = cands.map((c) => {
    const dims = Object.entries((r.ratings || {})[c.id] || {}).map(([k, v]) => `${dimensionName(k)} ${v?.value ?? v}`);
    const flags = ((r.flags || {})[c.id] || []).map((f) => t(`flag.${f}`));
    if (!dims.length && !flags.length) return null;
    return h("li", { dataset: { candidate: c.id } }, t("review.candidate", { label: letter(c.position) }), "：",
      dims.join(" · "), dims.length && flags.length ? "；" : "", flags.length ? t("revisions.flags", { flags: flags.join("、") }) : "");
  }).filter(Boolean);
  return rows.length ? h("ul", { class: "revision-marks", dataset: { role: "marks" } }, rows) : null;
}

// changes lists what changed from prev to cur, as lines; the text diffs are appended by the
// caller, as they need the server.
function changes(prev, cur, cands) {
  const label = (id) => letter(cands.find((c) => c.id === Number(id))?.position ?? 0);
  const lines = [];
  const a = rankingText(prev.ranking, cands);
  const b = rankingText(cur.ranking, cands);
  if (a !== b) {
    lines.push(h("li", { dataset: { change: "ranking" } }, t("revisions.rankingChanged", { from: a, to: b })));
    const ra = rankOf(prev.ranking);
    const rb = rankOf(cur.ranking);
    for (const c of cands) {
      if (ra[c.id] !== rb[c.id]) {
        lines.push(h("li", { dataset: { change: "rank", candidate: c.id } }, t("revisions.rankMoved", {
          label: letter(c.position), from: ra[c.id] ?? "–", to: rb[c.id] ?? "–" })));
      }
    }
  }
  const sa = scores(prev.ratings);
  const sb = scores(cur.ratings);
  for (const key of new Set([...Object.keys(sa), ...Object.keys(sb)])) {
    if (sa[key] === sb[key]) continue;
    const [cand, dim] = key.split("/");
    lines.push(h("li", { dataset: { change: "score", candidate: cand, dimension: dim } },
      t("revisions.scoreChanged", { label: label(cand), dimension: dimensionName(dim), from: sa[key] ?? "–", to: sb[key] ?? "–" })));
  }
  const flagText = (fs) => ((fs || []).length ? fs.map((f) => t(`flag.${f}`)).join("、") : t("revisions.none"));
  const fa = prev.flags || {};
  const fb = cur.flags || {};
  for (const cand of new Set([...Object.keys(fa), ...Object.keys(fb)])) {
    if (JSON.stringify([...(fa[cand] || [])].sort()) === JSON.stringify([...(fb[cand] || [])].sort())) continue;
    lines.push(h("li", { dataset: { change: "flags", candidate: cand } },
      t("revisions.flagsChanged", { label: label(cand), from: flagText(fa[cand]), to: flagText(fb[cand]) })));
  }
  if ((prev.comment || "") !== (cur.comment || "")) lines.push(h("li", { dataset: { change: "comment" } }, t("revisions.commentChanged")));
  return lines;
}

// textDiffs are the corrected and the gold reply's diffs from prev to cur. A correction of
// another candidate than prev corrected is compared with that candidate's text.
async function textDiffs(prev, cur, cands, seq) {
  const out = [];
  if (cur.edit && (cur.edit.candidate_id !== prev.edit?.candidate_id || cur.edit.content !== prev.edit?.content)) {
    const from = cur.edit.candidate_id === prev.edit?.candidate_id ? prev.edit.content : cands.find((c) => c.id === cur.edit.candidate_id)?.content ?? "";
    const label = letter(cands.find((c) => c.id === cur.edit.candidate_id)?.position ?? 0);
    out.push(h("h4", {}, t("revisions.editDiff", { label })), await diffView(from, cur.edit.content, `revision-${seq}-edit-diff`));
  } else if (prev.edit && !cur.edit) {
    out.push(h("p", { dataset: { change: "edit-dropped" } }, t("revisions.editDropped")));
  }
  if ((cur.gold ?? "") !== (prev.gold ?? "")) {
    out.push(h("h4", { i18n: "revisions.goldDiff" }), await diffView(prev.gold ?? "", cur.gold ?? "", `revision-${seq}-gold-diff`));
  }
  return out;
}

function decisionView(d) {
  const reason = d.reason_code ? (locale() === "en" ? d.reason_en : d.reason_zh) : "";
  return h("li", { class: "revision-decision", dataset: { verdict: d.verdict, review: d.review_id } },
    h("strong", {}, t(`revisions.verdict.${d.verdict}`)), " · ", t("revisions.byReviewer", { name: d.reviewer.name, at: formatTime(d.at) }),
    d.tier ? ` · ${t(`qc.tier.${d.tier}`)}` : "",
    reason ? [h("br"), t("rework.reason"), h("span", { dataset: { role: "reason" } }, reason), d.reason_text ? ` (${d.reason_text})` : ""] : null,
    d.comment ? [h("br"), t("revisions.reviewerComment"), h("span", { dataset: { role: "comment" } }, d.comment)] : null,
    d.appeal ? h("div", { class: "revision-appeal", dataset: { appeal: d.appeal.state } },
      t("revisions.appeal", { at: formatTime(d.appeal.at) }), d.appeal.reason, " · ", t(`rework.appeal.${d.appeal.state}`),
      d.appeal.decided_by ? ` · ${t("revisions.decidedBy", { name: d.appeal.decided_by.name, at: formatTime(d.appeal.decided_at) })}` : "",
      d.appeal.note ? ` · ${d.appeal.note}` : "") : null);
}

// stateOf names a revision's review state for the page: a rejected revision a reviewer
// fixed was superseded by the fix rather than sent back, which the trainer should not read
// as a plain rejection.
function stateOf(r) {
  if (r.review_state === "rejected" && r.reviews.some((d) => d.verdict === "fixed")) return "superseded";
  return r.review_state;
}

// revisionsPage is #/judgments/:id/revisions.
export async function revisionsPage(judgmentId) {
  stopQC();
  const data = await api("GET", `/judgments/${judgmentId}/revisions`);
  const cands = data.candidates.slice().sort((a, b) => a.position - b.position);
  // The rubric's labels for the scores; without it (a reader outside the project's
  // persona pages) the keys stand in.
  const { rubric = [] } = await api("GET", `/personas/${data.persona_id}`).catch(() => ({}));
  const labels = Object.fromEntries(rubric.map((d) => [d.key, locale() === "en" ? d.label_en || d.label : d.label || d.label_en]));
  dimensionName = (key) => labels[key] || key;
  const page = h("div", { class: "page revisions", id: "revisions-page", dataset: { judgment: judgmentId, count: data.revisions.length } });
  const cards = [];
  const revs = data.revisions;
  for (let i = revs.length - 1; i >= 0; i--) {
    const r = revs[i];
    const prev = i > 0 ? revs[i - 1] : null;
    const author = r.author_role === "reviewer" ? t("revisions.byFix", { name: r.author.name }) : t("revisions.byTrainer", { name: r.author.name });
    const fixOf = r.fix_of ? revs.find((x) => x.judgment_id === r.fix_of) : null;
    const lines = prev ? changes(prev, r, cands) : [];
    const diffs = prev ? await textDiffs(prev, r, cands, r.seq) : [];
    cards.push(h("section", { class: "card revision", id: `revision-${r.seq}`, dataset: { seq: r.seq, judgment: r.judgment_id, author: r.author_role, state: r.review_state } },
      h("h3", {}, t("revisions.heading", { seq: r.seq }), " · ", h("span", { dataset: { role: "author" } }, author), " · ", formatTime(r.created_at)),
      h("p", { class: "muted", dataset: { role: "state" } }, t(`revisions.state.${stateOf(r)}`),
        fixOf ? ` · ${t("revisions.fixOf", { seq: fixOf.seq })}` : "",
        r.resubmits ? ` · ${t("revisions.resubmission")}` : ""),
      h("p", { dataset: { role: "ranking" } }, t("review.revisionRanking"), rankingText(r.ranking, cands)),
      marksView(r, cands),
      r.comment ? h("p", { class: "review-trainer-comment" }, t("revisions.comment"), r.comment) : null,
      r.edit ? [h("h4", {}, t("review.revisionEdit", { label: letter(cands.find((c) => c.id === r.edit.candidate_id)?.position ?? 0) })),
        h("div", { class: "reply", dataset: { role: "edit" } }, r.edit.content)] : null,
      r.gold != null ? [h("h4", { i18n: "review.revisionGold" }), h("div", { class: "reply", dataset: { role: "gold" } }, r.gold)] : null,
      prev ? h("div", { class: "revision-changes", dataset: { role: "changes" } },
        h("h4", {}, t("revisions.changes", { seq: prev.seq })),
        lines.length || diffs.length ? h("ul", {}, lines) : h("p", { class: "muted", i18n: "revisions.noChanges" }), diffs) : null,
      r.reviews.length ? h("ul", { class: "revision-decisions" }, r.reviews.map(decisionView))
        : h("p", { class: "muted", i18n: r.author_role === "reviewer" ? "revisions.acceptedWithFix" : "revisions.notReviewed" })));
  }
  page.append(h("h1", { i18n: "revisions.title" }),
    h("p", { class: "muted" }, t("revisions.intro", { trainer: data.trainer.name, n: revs.length })),
    h("div", { class: "work-question" }, data.question),
    h("div", { id: "revisions-list" }, cards),
    h("details", { class: "card", id: "revisions-candidates" }, h("summary", { i18n: "revisions.candidates" }),
      cands.map((c) => h("section", { class: "pane", dataset: { label: letter(c.position) } },
        h("h4", {}, t("review.candidate", { label: letter(c.position) })), h("div", { class: "reply" }, c.content)))),
    h("p", {}, h("a", { href: "#/work", i18n: "work.back" })));
  return page;
}

// fixesSection is My work's list of the trainer's judgments a reviewer fixed and accepted:
// nothing to redo, so they are not reworks, but each links its revisions, where the
// trainer sees what the reviewer changed.
export async function fixesSection() {
  const { fixes } = await api("GET", "/fixes");
  if (fixes.length === 0) return null;
  return h("section", { class: "card", id: "fixes" }, h("h3", { i18n: "revisions.fixesTitle" }),
    h("p", { class: "muted", i18n: "revisions.fixesHint" }),
    h("ul", {}, fixes.map((f) => h("li", { class: "fix", dataset: { review: f.review_id, judgment: f.judgment_id } },
      h("strong", {}, f.campaign), " · ", f.question, h("br"),
      h("span", { class: "muted" }, t("revisions.fixedBy", { name: f.reviewer, at: formatTime(f.fixed_at) })), f.comment ? ` · ${f.comment}` : "",
      " ", h("a", { href: `#/judgments/${f.fixed_judgment_id}/revisions`, dataset: { role: "revisions" } }, t("revisions.link"))))));
}
