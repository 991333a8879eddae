// work: 我的任务 / My work. The campaigns open to me with my counts; Start deals item after
// item from one campaign. The page holds the item on screen and two more claimed ahead, with
// their candidates loaded, so a submit shows the next item at once (focus on candidate A)
// while the queue is topped up in the background. Open claims are renewed by a heartbeat,
// and a reload resumes them, oldest first: the same item comes back.
import { api, follow } from "../api.js";
import { append, clear, clearErrors, errorBox, h, replace, showError, showRendered } from "../dom.js";
import { locale, t } from "../i18n.js";
import { isAdmin, roleIn } from "../session.js";
import { reworksSection } from "./qc.js";
import { fixesSection } from "./revisions.js"; // a judgment's revisions (issue 14)
import { scoreFor } from "./trainkeys.js";

const FLAGS = ["hallucination", "unsafe", "off_persona", "refusal"];
const SKIP_REASONS = ["unclear", "needs_expertise", "harmful", "broken_candidates"];
const AHEAD = 2; // items claimed and loaded beyond the one on screen
const letter = (position) => String.fromCharCode(64 + position);
const draftKey = (claimId) => `mentor-work-draft-${claimId}`;
const typing = (el) => el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || (el.tagName === "INPUT" && !["checkbox", "radio"].includes(el.type)));

let timers = [];
let streams = []; // live items' streams (AbortControllers), ended with the session

// stopWork ends the heartbeat (and the wait for more items) of a work session the router
// leaves, and the streams of its live items.
export function stopWork() {
  timers.forEach(clearInterval);
  timers = [];
  streams.forEach((s) => s.abort());
  streams = [];
}

// A candidate a trainer can judge: finished, not failed, with something said (rlhf.Usable).
const usableCand = (c) => c.status !== "failed" && c.status !== "streaming" && (c.content || "").trim() !== "";

const dateText = (s) => (s ? new Date(s).toLocaleDateString() : t("work.noDeadline"));

// workPage lists the campaigns open to me, and the bases I lead.
export async function workPage() {
  const { campaigns, leads } = await api("GET", "/work");
  const reviews = (w) => isAdmin() || ["admin", "reviewer"].includes(roleIn(w.project_id)) || leads.length > 0;
  const list = h("ul", { class: "cards", id: "work-list" }, campaigns.map((w) =>
    h("li", { class: "card work-card", dataset: { campaign: w.campaign_id } },
      h("h3", { class: "card-title" }, w.name),
      h("p", { class: "muted" }, t(`work.kind.${w.task_kind}`), " · ", t("work.deadline", { date: dateText(w.deadline) })),
      h("dl", { class: "work-counts" },
        h("dt", { i18n: "work.today" }), h("dd", { dataset: { count: "today" } }, w.today),
        h("dt", { i18n: "work.week" }), h("dd", { dataset: { count: "week" } }, w.week),
        h("dt", { i18n: "work.skipped" }), h("dd", { dataset: { count: "skipped" } }, w.skipped),
        h("dt", { i18n: "work.remaining" }), h("dd", { dataset: { count: "remaining" } }, w.remaining_quota ?? t("work.noQuota")),
        h("dt", { i18n: "work.available" }), h("dd", { dataset: { count: "available" } }, w.available)),
      h("a", { class: "button", href: `#/work/${w.campaign_id}`, dataset: { role: "start" } }, t(w.open > 0 ? "work.resume" : "work.start")),
      // Quality control (issue 14): the review stream and the QC figures, for the project's
      // reviewers and admins and for leads of a base; everyone's own figures per trainer.
      reviews(w) ? [" ", h("a", { class: "button secondary", href: `#/campaigns/${w.campaign_id}/review`, dataset: { role: "review" } }, t("qc.review")),
        " ", h("a", { class: "button secondary", href: `#/campaigns/${w.campaign_id}/qc`, dataset: { role: "qc" } }, t("qc.link"))] : null,
      " ", h("a", { href: `#/campaigns/${w.campaign_id}/trainers`, dataset: { role: "quality" }, i18n: "work.quality" }))));
  if (campaigns.length === 0) list.append(h("li", { class: "muted", i18n: "work.none" }));
  const led = leads.length
    ? h("section", { class: "card" }, h("h3", { i18n: "work.myBases" }),
      h("ul", {}, leads.map((b) => h("li", {}, h("a", { href: `#/bases/${b.id}` }, b.name), ` · ${t("work.members", { n: b.members })}`))))
    : null;
  const reworks = await reworksSection(); // quality control (issue 14): my rejected judgments
  const fixes = await fixesSection(); // and those a reviewer fixed and accepted
  return h("div", { class: "page work" }, h("h1", { i18n: "work.title" }), reworks, fixes, list, led);
}

// basePage is a lead's view of a base: who is working, what each did today, open claims
// and skips.
export async function basePage(baseId) {
  const { people } = await api("GET", `/bases/${baseId}/people`);
  return h("div", { class: "page" }, h("h1", { i18n: "base.title" }),
    h("table", { class: "table", id: "base-people" },
      h("thead", {}, h("tr", {}, ["base.person", "base.working", "base.doneToday", "base.openClaims", "base.skips", "base.lastActive"]
        .map((k) => h("th", { i18n: k })))),
      h("tbody", {}, people.map((p) => h("tr", { dataset: { user: p.user_id } },
        h("td", {}, p.display_name, p.is_lead ? ` (${t("base.lead")})` : "", h("small", { class: "muted" }, ` ${p.login}`)),
        h("td", {}, t(p.working ? "base.yes" : "base.no")), h("td", {}, p.done_today), h("td", {}, p.open_claims),
        h("td", {}, p.skips), h("td", {}, p.last_active ? new Date(p.last_active).toLocaleString() : "–"))))));
}

function guidelinesText(html) {
  const el = h("div", { class: "guidelines-text", dataset: { content: "" } });
  showRendered(el, html);
  return el;
}

// sessionPage deals the campaign's items one after another.
// KEY_HINTS are the session's shortcuts: a key, shown as a key in every language, and what it does.
const KEY_HINTS = [["← →", "work.key.move"], ["1–8", "work.key.rank"], ["s", "work.key.score"], ["f", "work.key.flag"], ["c", "work.key.continue"],
  ["Ctrl+Shift+Enter", "work.key.submit"]];

function keyHints() {
  return KEY_HINTS.flatMap(([key, what], i) => [i > 0 ? " · " : null, h("kbd", {}, key), " ", t(what)]);
}

export async function sessionPage(campaignId) {
  stopWork();
  const { campaigns } = await api("GET", "/work");
  const w = campaigns.find((x) => x.campaign_id === campaignId);
  if (!w) return h("div", { class: "page" }, errorBox({ message: t("work.notOpen") }), h("a", { href: "#/work", i18n: "work.back" }));
  const { rubric } = await api("GET", `/personas/${w.persona_id}`);
  const page = h("div", { class: "page train work-session", dataset: { campaign: campaignId } });
  const status = h("div", { id: "work-status" });
  const question = h("div", { class: "work-question", id: "work-question" });
  const panes = h("div", { class: "panes", id: "work-panes", dataset: { field: "ranking" } });
  const counter = h("span", { class: "muted", id: "work-counter" });
  const queue = []; // claims with their turn loaded: queue[0] is on screen
  let done = w.today;
  let current = null; // { claim, cands, draft }
  let lastPane = null;
  let filling = null;
  const submitting = new Set(); // claims whose judgment is on its way

  const showCount = () => (counter.textContent = t("work.doneToday", { n: done }));
  const best = () => current?.cands.filter((c) => current.draft.ranks[c.id]).sort((a, b) => current.draft.ranks[a.id] - current.draft.ranks[b.id])[0];
  // startEdit puts a candidate's reply in the edit box, to be corrected.
  function startEdit(c) {
    current.draft.edit = { candidate_id: c.id, content: c.content };
    edit.value = c.content;
    saveDraft();
    edit.focus();
  }

  // load fetches a claim's candidates, so the claim can be shown without waiting.
  async function load(claim) {
    const { turn } = await api("GET", `/turns/${claim.turn_id}`);
    const cands = turn.candidates.slice().sort((a, b) => a.position - b.position);
    // A side-swap repeat (issue 14) shows a pair judged before with its sides swapped, labelled
    // A and B as shown: the trainer cannot tell it from new work.
    if (claim.swapped) return { claim, cands: cands.reverse().map((c, i) => ({ ...c, position: i + 1 })) };
    const entry = { claim, cands };
    if (claim.live) followLive(entry);
    return entry;
  }

  // Live generation (issue 13): a live campaign's item streams its candidates when first
  // claimed, and every claimant follows them (GET /claims/:claim/stream), the panes filling
  // side by side as on the train screen. The items held ahead stream too, so the next one is
  // usually complete before the trainer gets to it. A dropped stream resumes from the last
  // event number of each candidate.
  function followLive(entry, tries = 0) {
    const ctl = new AbortController();
    entry.stream = ctl;
    streams.push(ctl);
    entry.after ??= {};
    const q = Object.keys(entry.after).length ? `?after=${encodeURIComponent(JSON.stringify(entry.after))}` : "";
    let ended = false;
    follow(`/claims/${entry.claim.id}/stream${q}`, (name, ev) => {
      if (name === "end") ended = true;
      else liveEvent(entry, ev);
    }, ctl.signal).then(() => {
      if (!ended && !ctl.signal.aborted) setTimeout(() => followLive(entry, tries + 1), 1000);
    }, (err) => {
      if (ctl.signal.aborted) return;
      if (err.status || tries >= 5) replace(status, errorBox(err));
      else setTimeout(() => followLive(entry, tries + 1), 1000);
    }).finally(() => {
      streams = streams.filter((x) => x !== ctl);
    });
  }

  function liveEvent(entry, ev) {
    const c = entry.cands.find((x) => x.id === ev.candidate_id);
    if (!c) return;
    if (ev.seq) entry.after[c.id] = ev.seq;
    if (ev.type === "start") Object.assign(c, { status: "streaming", content: "", error: "" });
    else if (ev.type === "delta") c.content += ev.content;
    else if (ev.type === "snapshot") Object.assign(c, { content: ev.content ?? "", status: ev.status || c.status, error: ev.error || "" });
    else if (ev.type === "done") Object.assign(c, { status: ev.status, error: ev.error || "" });
    else return;
    if (current?.entry === entry && c.pane) paintLive(c, ev);
  }

  // paintLive shows a live candidate's change on its pane: text while it streams, the
  // server's rendering once it is done, and a failure with the way to stream it again.
  function paintLive(c, ev) {
    c.pane.dataset.status = c.status;
    if (ev.type === "delta") c.body.append(ev.content);
    else if (ev.html) showRendered(c.body, ev.html);
    else replace(c.body, c.content);
    c.problem.hidden = c.status !== "failed";
    if (c.status === "failed") replace(c.problem, h("span", {}, t("train.failedReason", { reason: c.error || c.status })), " ",
      h("button", { type: "button", class: "link", dataset: { role: "retry" }, onclick: () => retryLive() }, t("work.retryLive")));
  }

  // retryLive opens the item's stream again: the server streams again the failed candidates
  // of an item nobody can judge as it stands.
  function retryLive() {
    const entry = current?.entry;
    if (!entry) return;
    entry.stream?.abort();
    followLive(entry);
  }

  // fill claims items until AHEAD are waiting behind the one on screen.
  function fill() {
    filling ??= (async () => {
      try {
        while (queue.length < AHEAD + 1) {
          let claim;
          try {
            ({ claim } = await api("POST", `/campaigns/${campaignId}/next`));
          } catch (err) {
            if (err.status === 404 || err.status === 422) break; // nothing more for me now, or my cap
            throw err;
          }
          queue.push(await load(claim));
          if (!current) show();
        }
      } catch (err) {
        replace(status, errorBox(err));
      } finally {
        filling = null;
        if (!current) show();
      }
    })();
    return filling;
  }

  const saveDraft = () => current && localStorage.setItem(draftKey(current.claim.id), JSON.stringify(current.draft));
  const focusPane = (c) => (c || current?.cands[0])?.pane?.focus();

  function setRank(c, value) {
    current.draft.ranks[c.id] = value ? Number(value) : undefined;
    c.rank.value = value ? String(value) : "";
    saveDraft();
  }
  function toggleFlag(c, f) {
    const set = new Set(current.draft.flags[c.id] || []);
    set.has(f) ? set.delete(f) : set.add(f);
    current.draft.flags[c.id] = [...set];
    c.flagBoxes[FLAGS.indexOf(f)].checked = set.has(f);
    saveDraft();
  }
  function setRating(c, i, value) {
    const dim = rubric[i];
    current.draft.ratings[c.id] ??= {};
    if (value == null) delete current.draft.ratings[c.id][dim.key];
    else current.draft.ratings[c.id][dim.key] = value;
    c.ratingSelects[i].value = value == null ? "" : String(value);
    saveDraft();
  }
  // The keyboard modes of a focused candidate, as on the train screen: "score" (s, then
  // digits set the highlighted rubric dimension and move to the next) and "flag" (f, then a
  // digit toggles that flag).
  function setMode(c, mode, dim = 0) {
    if (mode) c.pane.dataset.mode = mode;
    else delete c.pane.dataset.mode;
    c.pane.querySelectorAll(".rating").forEach((el, j) => el.toggleAttribute("data-active", mode === "score" && j === dim));
    c.dim = dim;
  }
  // scoreKey handles a key in score mode, and reports whether it was spent there.
  function scoreKey(c, e) {
    const dim = rubric[c.dim];
    if (/^[0-9]$/.test(e.key)) {
      const v = scoreFor(dim, e.key);
      if (v == null) return true; // off the scale: spent, nothing changes
      setRating(c, c.dim, v);
      setMode(c, c.dim + 1 < rubric.length ? "score" : null, c.dim + 1);
      return true;
    }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      setMode(c, "score", Math.max(0, Math.min(rubric.length - 1, c.dim + (e.key === "ArrowDown" ? 1 : -1))));
      return true;
    }
    if (e.key === "Backspace" || e.key === "Delete") {
      setRating(c, c.dim, null);
      return true;
    }
    setMode(c, null);
    return e.key === "Escape" || e.key === "Enter";
  }

  function paneFor(c, n) {
    const d = current.draft;
    const rank = h("select", { class: "rank", dataset: { role: "rank", field: `ranking.${c.id}` }, "aria-label": t("train.rank") },
      h("option", { value: "" }, "–"), Array.from({ length: n }, (_, j) => h("option", { value: j + 1 }, j + 1)));
    rank.value = d.ranks[c.id] ?? "";
    rank.addEventListener("change", () => setRank(c, rank.value));
    const ratingSelects = [];
    const ratings = rubric.map((dim, i) => {
      const sel = h("select", { dataset: { dim: dim.key, field: `ratings.${c.id}.${dim.key}` } }, h("option", { value: "" }, "–"),
        Array.from({ length: dim.scale_max - dim.scale_min + 1 }, (_, k) => h("option", { value: dim.scale_min + k }, dim.scale_min + k)));
      sel.value = d.ratings[c.id]?.[dim.key] ?? "";
      sel.addEventListener("change", () => setRating(c, i, sel.value ? Number(sel.value) : null));
      ratingSelects.push(sel);
      return h("label", { class: "rating", dataset: { index: i + 1 }, title: locale() === "en" ? dim.guide_en : dim.guide },
        h("span", { class: "key-hint" }, i + 1), h("span", {}, locale() === "en" ? dim.label_en : dim.label), sel);
    });
    const flagBoxes = FLAGS.map((f) => {
      const box = h("input", { type: "checkbox", value: f, checked: (d.flags[c.id] || []).includes(f) });
      box.addEventListener("change", () => toggleFlag(c, f));
      return box;
    });
    const pane = h("section", { class: "pane", tabindex: 0, "aria-label": t("train.candidate", { label: letter(c.position) }),
      dataset: { candidate: c.id, label: letter(c.position), status: c.status } },
    h("header", {}, h("strong", {}, letter(c.position)), " ", rank),
    // The model's reply: its words are content, in whatever language the model wrote.
    h("div", { class: "reply candidate-text", dataset: { role: "body" } }, c.content),
    h("p", { class: "pane-error", dataset: { role: "problem" }, hidden: c.status !== "failed" }),
    h("div", { class: "pane-controls" },
      h("div", { class: "ratings" }, ratings),
      h("div", { class: "flags" }, FLAGS.map((f, i) => h("label", { class: "check" }, flagBoxes[i], h("span", { class: "key-hint" }, i + 1), t(`flag.${f}`))))));
    Object.assign(c, { pane, rank, flagBoxes, ratingSelects, dim: 0, body: pane.querySelector('[data-role="body"]'),
      problem: pane.querySelector('[data-role="problem"]') });
    pane.addEventListener("focus", () => (lastPane = c));
    pane.addEventListener("keydown", (e) => {
      if (e.target !== pane || e.ctrlKey || e.metaKey || e.altKey) return;
      const i = current.cands.indexOf(c);
      if (pane.dataset.mode === "score" && scoreKey(c, e)) {
        e.preventDefault();
        return;
      }
      if (pane.dataset.mode === "flag") {
        setMode(c, null);
        if (/^[1-4]$/.test(e.key)) toggleFlag(c, FLAGS[Number(e.key) - 1]);
      } else if (e.key === "s" && rubric.length > 0) {
        setMode(c, "score", 0);
      } else if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        focusPane(current.cands[Math.max(0, Math.min(current.cands.length - 1, i + (e.key === "ArrowRight" ? 1 : -1)))]);
      } else if (/^[1-8]$/.test(e.key) && Number(e.key) <= current.cands.length) {
        setRank(c, e.key);
      } else if (e.key === "f") {
        setMode(c, "flag");
      } else if (e.key === "c") {
        current.draft.continueFrom = c.id;
        saveDraft();
      } else if (e.key === "e" && w.task_kind === "correct_best") {
        startEdit(c);
      } else return;
      e.preventDefault();
    });
    return pane;
  }

  // show puts the first queued claim on screen, from memory: no network wait.
  function show() {
    clearErrors(page);
    if (queue.length === 0) {
      current = null;
      clear(panes);
      replace(question, h("p", { class: "muted", id: "work-empty", i18n: "work.empty" }));
      judge.hidden = true;
      return;
    }
    const entry = queue[0];
    const { claim, cands } = entry;
    const saved = localStorage.getItem(draftKey(claim.id));
    current = { entry, claim, cands, draft: saved ? JSON.parse(saved)
      : { key: crypto.randomUUID(), ranks: {}, ratings: {}, flags: {}, comment: "", gold: "", continueFrom: null, started: Date.now() } };
    page.dataset.claim = claim.id;
    replace(question, h("p", { class: "q", id: "work-question-text", dataset: { content: "" } }, claim.question));
    // A live item shows every candidate as it streams, a failed one with the way to stream it
    // again; otherwise only the candidates worth judging.
    const usable = claim.live ? cands : cands.filter(usableCand);
    current.cands = usable;
    replace(panes, usable.map((c) => paneFor(c, usable.length)));
    if (claim.live) usable.filter((c) => c.status === "failed").forEach((c) => paintLive(c, {}));
    panes.style.setProperty("--columns", String(usable.length <= 4 ? usable.length : Math.ceil(usable.length / 2)));
    comment.value = current.draft.comment || "";
    gold.value = current.draft.gold || "";
    edit.value = current.draft.edit?.content || "";
    judge.hidden = false;
    submit.disabled = false;
    lastPane = null;
    // Focus on A at once; a page not yet on screen (a resumed claim) gets it once it is.
    if (document.body.contains(page)) focusPane(usable[0]);
    else requestAnimationFrame(() => current?.cands[0] === usable[0] && focusPane(usable[0]));
  }

  function body() {
    const d = current.draft;
    if (current.cands.some((c) => c.status === "streaming")) return { error: { field: "ranking", message: t("train.stillStreaming") } };
    const judged = current.cands.filter(usableCand);
    const unranked = judged.find((c) => !d.ranks[c.id]);
    if (unranked) {
      focusPane(unranked);
      return { error: { field: `ranking.${unranked.id}`, message: t("train.rankAll") } };
    }
    const groups = new Map();
    for (const c of judged) {
      const r = d.ranks[c.id];
      if (!groups.has(r)) groups.set(r, []);
      groups.get(r).push(c.id);
    }
    const top = judged.slice().sort((a, b) => d.ranks[a.id] - d.ranks[b.id])[0];
    const goldText = d.gold?.trim();
    const keep = (m) => Object.fromEntries(Object.entries(m).filter(([id, v]) => judged.some((c) => String(c.id) === id) && v
      && (Array.isArray(v) ? v.length : Object.keys(v).length)));
    return {
      body: {
        idempotency_key: d.key,
        ranking: [...groups.keys()].sort((a, b) => a - b).map((k) => groups.get(k)),
        ratings: keep(d.ratings),
        flags: keep(d.flags),
        comment: d.comment || "",
        gold: goldText ? { content: d.gold } : null,
        edit: d.edit?.content?.trim() ? d.edit : null,
        continue_from: goldText && !d.continueFrom ? { gold: true } : d.edit?.content?.trim() && !d.continueFrom ? { edit: true }
          : { candidate_id: d.continueFrom ?? top.id },
        time_spent_ms: Math.max(0, Date.now() - (d.started || Date.now())),
      },
    };
  }

  // after closes the item on screen and shows the next one at once.
  function after(claimId) {
    localStorage.removeItem(draftKey(claimId));
    queue.shift()?.stream?.abort();
    show();
    fill();
  }

  // submitJudgment shows the next item at once, from memory, and sends the judgment behind
  // it: the trainer never waits for the submit's round trip (a p50 of 98 ms, p95 426 ms on the
  // shared machine when the screen waited). The draft stays in the browser until the server
  // has the judgment; a refusal brings the item back on screen with the reason, and a lapsed
  // lease (409) is said over the next item. The queue is topped up once the submit is in, so
  // the claim cap counts the submitted claim as closed.
  async function submitJudgment() {
    if (!current || submitting.has(current.claim.id)) return;
    const { body: b, error } = body();
    if (error) {
      showError(page, error, submitStatus);
      return;
    }
    const entry = queue[0];
    const claimId = current.claim.id;
    const shown = current.cands;
    submitting.add(claimId);
    queue.shift();
    entry.stream?.abort();
    clear(submitStatus);
    show();
    try {
      const res = await api("POST", `/claims/${claimId}/judgment`, b);
      localStorage.removeItem(draftKey(claimId));
      done++;
      showCount();
      // Blind pairwise: the names come only with the answer to the vote.
      if (res.revealed) {
        const label = (id) => letter(shown.find((c) => c.id === id)?.position ?? 0);
        replace(submitStatus, h("p", { class: "muted", id: "work-revealed" },
          t("work.revealed", { names: res.revealed.map((r) => `${label(r.candidate_id)}: ${r.model}`).join(" · ") })));
      }
    } catch (err) {
      if (err.status === 409) {
        localStorage.removeItem(draftKey(claimId)); // lapsed: the item went back to the pool; say so over the next one
      } else {
        queue.unshift(entry); // refused: the item comes back, with its draft and the reason
        if (entry.claim.live) followLive(entry);
        show();
      }
      showError(page, err, submitStatus);
    } finally {
      submitting.delete(claimId);
      fill();
    }
  }

  async function skip() {
    if (!current) return;
    const claimId = current.claim.id;
    try {
      await api("POST", `/claims/${claimId}/skip`, { reason: reason.value });
      after(claimId);
    } catch (err) {
      showError(page, err, submitStatus);
    }
  }

  const comment = h("textarea", { id: "work-comment", rows: 2, dataset: { field: "comment" } });
  comment.addEventListener("input", () => {
    current.draft.comment = comment.value;
    saveDraft();
  });
  // Correcting the best reply: the reply ranked first, as the trainer rewrites it (e on a
  // pane starts from that pane's reply).
  const edit = h("textarea", { id: "work-edit", rows: 5, dataset: { field: "edit.content" } });
  edit.addEventListener("input", () => {
    current.draft.edit = { candidate_id: current.draft.edit?.candidate_id ?? best()?.id, content: edit.value };
    saveDraft();
  });
  const editBox = h("label", { class: "field", id: "work-edit-box", hidden: w.task_kind !== "correct_best", dataset: { field: "edit" } },
    h("span", { i18n: "work.editBest" }), edit);
  const gold = h("textarea", { id: "work-gold", rows: 3, dataset: { field: "gold" } });
  gold.addEventListener("input", () => {
    current.draft.gold = gold.value;
    saveDraft();
  });
  const submitStatus = h("div", { class: "submit-status", id: "work-submit-status" });
  const submit = h("button", { type: "button", id: "work-submit", i18n: "train.submit", onclick: () => submitJudgment() });
  const reason = h("select", { id: "work-skip-reason", dataset: { field: "reason" } }, SKIP_REASONS.map((r) => h("option", { value: r }, t(`work.skip.${r}`))));
  const skipButton = h("button", { type: "button", class: "secondary", id: "work-skip", i18n: "work.skip", onclick: () => skip() });
  const judge = h("div", { class: "judge", id: "work-judge", hidden: true }, editBox,
    h("label", { class: "field" }, h("span", { i18n: w.task_kind === "write_gold" ? "work.goldRequired" : "train.gold" }), gold),
    h("label", { class: "field" }, h("span", { i18n: "train.comment" }), comment),
    h("div", { class: "row" }, submit, h("small", { class: "muted", id: "work-keys" }, keyHints()), h("span", { class: "spacer" }), reason, skipButton),
    submitStatus);

  document.addEventListener("keydown", function shortcut(e) {
    if (!document.body.contains(panes)) {
      document.removeEventListener("keydown", shortcut);
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.shiftKey) {
      e.preventDefault();
      submitJudgment();
    } else if (e.key === "Escape" && typing(document.activeElement)) {
      focusPane(lastPane);
      e.preventDefault();
    }
  });

  // Resume: my open claims come back first, oldest (the one I was on) first.
  const { claims } = await api("GET", `/campaigns/${campaignId}/claims`);
  for (const claim of claims) {
    try {
      queue.push(await load(claim));
    } catch (err) {
      status.append(errorBox(err));
    }
  }
  // The heartbeat renews every held lease well before it lapses.
  timers.push(setInterval(() => {
    for (const { claim } of queue) api("PUT", `/claims/${claim.id}/lease`).catch(() => {});
  }, Math.max(10, w.lease_seconds / 3) * 1000));
  // Items still being generated become ready while the trainer works: look again now and then
  // while the queue is short.
  timers.push(setInterval(() => {
    if (queue.length < AHEAD + 1 && !filling) fill();
  }, 15000));
  showCount();
  const guidelines = h("aside", { class: "card work-guidelines", id: "work-guidelines" },
    h("h3", {}, t("work.guidelines", { v: w.guidelines_version })), w.guidelines
      // The admin's own markdown, rendered by the server (package render: safe HTML, raw
      // HTML shown as text), in whatever language they wrote it.
      ? guidelinesText(w.guidelines_html)
      : h("div", { class: "guidelines-text" }, t("work.noGuidelines")));
  append(page, [
    h("header", { class: "persona-head" }, h("div", {}, h("h1", {}, w.name),
      h("p", { class: "muted" }, h("a", { href: "#/work", i18n: "work.back" }), " · ", counter))),
    status, question, h("div", { class: "train-body" }, panes, guidelines), judge]);
  if (queue.length) show();
  else replace(question, h("p", { class: "muted", i18n: "work.loading" }));
  fill();
  return page;
}
