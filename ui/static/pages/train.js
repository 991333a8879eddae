import { api } from "../api.js";
import { append, clear, clearErrors, errorBox, h, replace, showError, showRendered } from "../dom.js";
import { locale, t } from "../i18n.js";
import { Live } from "../ws.js";
import { avatar, personaName } from "./project.js";
import { keysHelp, scoreFor } from "./trainkeys.js";

// The trainer's screen: ask, watch N candidates stream side by side, rank (number keys),
// rate, flag, correct one or write the gold reply, submit, and continue from the chosen reply.
// Everything can be done from the keyboard (press ? for the keys). The conversation and the
// judgment draft live in localStorage, so a reload loses nothing.

// Every socket a trainer's screen opened and has not closed: a screen built by a render that
// a quicker one overtook (two language switches, say) opens one too, and the next page must
// not leave it open beside its own.
const lives = new Set();

export function stopLive() {
  for (const l of lives) l.close();
  lives.clear();
}

const FLAGS = ["hallucination", "unsafe", "off_persona", "refusal"];
const stateKey = (personaId) => `mentor-train-${personaId}`;
const draftKey = (turnId) => `mentor-draft-${turnId}`;
const load = (key, fallback) => {
  try {
    return JSON.parse(localStorage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
};
const save = (key, value) => localStorage.setItem(key, JSON.stringify(value));
const letter = (position) => String.fromCharCode(64 + position);

// unrankable says whether a finished candidate is left out of the ranking: it failed, or it
// ended with no text (cancelled or interrupted before its first token, or an empty reply).
// The server refuses a judgment that ranks one, and no export holds one; a trainer can
// regenerate it in place.
export function unrankable(c) {
  return c.status !== "streaming" && (c.status === "failed" || !c.content.trim());
}

// A text field where keys are typing, not shortcuts.
const typing = (el) => el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && !["checkbox", "radio"].includes(el.type)));

export async function trainPage(personaId) {
  stopLive();
  // sees_models: whether this person may see which model and prompt version wrote a
  // candidate (in a blind project only reviewers and admins may). The server decides, and
  // leaves the fields out for the others; the screen never shows them either, not even in
  // the composer.
  const { persona, rubric, versions, sees_models: showSources } = await api("GET", `/personas/${personaId}`);
  const page = h("div", { class: "page train" });
  const st = load(stateKey(personaId), { conversationId: null, parentMessageId: null, turnId: null, question: "" });
  st.tips ??= {};
  const saveState = () => save(stateKey(personaId), st);

  // The conversation so far: from its first message to the reply the next turn continues
  // from. Each reply shows its siblings (the other candidates, an edit, a gold reply), and
  // switching to one makes the conversation go on from there.
  const pathBox = h("ol", { class: "conversation", id: "train-path" });
  async function showPath() {
    if (!st.conversationId || !st.parentMessageId) {
      clear(pathBox);
      return;
    }
    const { messages } = await api("GET", `/conversations/${st.conversationId}`);
    const byId = new Map(messages.map((m) => [m.id, m]));
    const children = (id) => messages.filter((m) => m.parent_id === id);
    const path = [];
    for (let m = byId.get(st.parentMessageId); m; m = byId.get(m.parent_id)) path.unshift(m);
    // Remember where each reply on this path led, so that stepping to a sibling and back
    // returns to the same place: the tree alone cannot say which reply of the newest turn was
    // continued from, since that reply has no children yet.
    for (const m of path) if (m.role === "assistant") st.tips[m.id] = st.parentMessageId;
    saveState();
    const label = (m) => (m.candidate_position ? letter(m.candidate_position) : t(m.author === "human" ? "train.humanReply" : "train.reply"));
    const below = (tip, m) => {
      for (let x = byId.get(tip); x; x = byId.get(x.parent_id)) if (x.id === m.id) return true;
      return false;
    };
    // deepest follows a reply down its most recent continuation, to the last continued reply.
    const deepest = (m) => {
      if (st.tips[m.id] && below(st.tips[m.id], m)) return byId.get(st.tips[m.id]);
      for (;;) {
        const next = children(m.id).filter((x) => x.role === "user").at(-1);
        const cont = next && children(next.id).filter((x) => children(x.id).length > 0).at(-1);
        if (!cont) return m;
        m = cont;
      }
    };
    replace(pathBox, path.map((m) => {
      if (m.role === "user") return h("li", { class: "q" }, m.content);
      const sibs = children(m.parent_id).filter((x) => x.role === "assistant");
      const i = sibs.findIndex((x) => x.id === m.id);
      const go = (j) => () => {
        st.parentMessageId = deepest(sibs[j]).id;
        saveState();
        showPath();
      };
      return h("li", { class: "a", dataset: { message: m.id } },
        h("div", { class: "sibs" },
          h("button", { type: "button", class: "link prev", disabled: i === 0, onclick: go(i - 1) }, "‹"),
          ` ${label(m)} · ${i + 1}/${sibs.length} `,
          h("button", { type: "button", class: "link next", disabled: i === sibs.length - 1, onclick: go(i + 1) }, "›")),
        h("div", { class: "text" }, m.content));
    }));
    pathBox.scrollTop = pathBox.scrollHeight; // the newest turn is the one to read
  }
  showPath();

  const saveState2 = h("span", { class: "save-state", id: "train-save", dataset: { state: "idle" } });
  const setSave = (state) => {
    saveState2.dataset.state = state;
    saveState2.textContent = t(`train.save.${state}`);
  };
  const status = h("div", { id: "train-status" });
  // The live socket's state: hidden while it is open; "reconnecting" while the page waits for
  // it again (nothing typed is lost meanwhile: commands wait for the new socket, and the turn
  // resumes where it was). data-reconnects counts the sockets opened again after a drop.
  const connection = h("div", { class: "muted connection", id: "train-live", hidden: true, dataset: { state: "connecting", reconnects: "0" } });
  function showConnection(state, reconnects) {
    connection.dataset.state = state;
    connection.dataset.reconnects = String(reconnects);
    connection.hidden = state === "open" || (state === "connecting" && reconnects === 0);
    connection.textContent = state === "open" ? "" : t("train.reconnecting");
  }
  const panes = h("div", { class: "panes", id: "train-panes", dataset: { field: "ranking" } });
  const judge = h("div", { class: "judge", id: "train-judge", hidden: true });

  // The passages the candidates were given, numbered as they cite them. Trainers mark each
  // one, and the gold reply cites them as [n]; the marks become retrieval labels.
  // The panel takes its place as soon as a grounded turn starts, and its height never
  // sizes the row (see .passage-panel): nothing moves under the trainer's pointer when the
  // passages arrive.
  const passagesBox = h("aside", { class: "passage-panel", id: "train-passages", hidden: true });
  const grounded = versions.some((v) => v.retrieval_k > 0 && v.corpus_ids.length > 0);
  const grades = [[2, "★", "train.passage.key"], [1, "✓", "train.passage.relevant"], [0, "✗", "train.passage.irrelevant"]];
  async function showPassages() {
    const turnId = st.turnId;
    if (!turnId || !grounded) {
      passagesBox.hidden = true;
      return;
    }
    passagesBox.hidden = false;
    replace(passagesBox, h("h3", { i18n: "train.passages" }), h("small", { class: "muted" }, "…"));
    let passages;
    try {
      ({ passages } = await api("GET", `/turns/${turnId}`));
    } catch (err) {
      replace(passagesBox, errorBox(err));
      return;
    }
    if (turnId !== st.turnId) return;
    if (passages.length === 0) {
      replace(passagesBox, h("h3", { i18n: "train.passages" }), h("small", { class: "muted", i18n: "train.noPassages" }));
      return;
    }
    replace(passagesBox, h("h3", { i18n: "train.passages" }), h("small", { class: "muted", i18n: "train.passagesHint" }),
      h("ol", { class: "passage-list" }, passages.map((p) => {
        const li = h("li", { tabindex: 0, dataset: { chunk: p.chunk_id, n: p.n, grade: p.grade ?? "" } });
        const mark = async (g) => {
          li.querySelector(".error")?.remove();
          try {
            await api("PUT", `/turns/${turnId}/passages/${p.chunk_id}/mark`, { grade: g });
            li.dataset.grade = g;
          } catch (err) {
            li.append(errorBox(err));
          }
        };
        const buttons = grades.map(([g, symbol, key]) =>
          h("button", { type: "button", class: "mark", title: `${t(key)} (${g})`, "aria-label": t(key), dataset: { grade: g }, onclick: () => mark(g) },
            symbol));
        // On a focused passage: ↑/↓ move, 2/1/0 mark, Esc goes back to the candidates.
        li.addEventListener("keydown", (e) => {
          if (e.target !== li || e.ctrlKey || e.metaKey || e.altKey) return;
          const items = [...passagesBox.querySelectorAll(".passage-list > li")];
          const i = items.indexOf(li);
          if (e.key === "ArrowDown" || e.key === "ArrowUp") {
            items[Math.max(0, Math.min(items.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))].focus();
          } else if (["0", "1", "2"].includes(e.key)) {
            mark(Number(e.key));
          } else if (e.key === "Escape") {
            focusPane(lastPane);
          } else return;
          e.preventDefault();
        });
        return append(li, [
          h("div", { class: "passage-head" }, h("strong", {}, `[${p.n}] `), p.title,
            // Where a candidate numbered it differently (another prompt version), say so.
            Object.entries(p.as_cited || {}).some(([, n]) => n !== p.n)
              ? h("span", { class: "muted as-cited" }, " (", Object.entries(p.as_cited).map(([pos, n]) => `${letter(Number(pos))}[${n}]`).join(" "), ")")
              : null,
            p.heading_path.length ? h("span", { class: "muted" }, ` › ${p.heading_path.join(" › ")}`) : null,
            p.page ? h("span", { class: "muted page" }, ` · ${t("passage.page", { n: p.page })}`) : null,
            p.current ? null : h("span", { class: "badge outdated", i18n: "train.passage.outdated" })),
          h("div", { class: "passage-text" }, p.text),
          h("div", { class: "marks" }, buttons)]);
      })));
  }

  // The composer. Which prompt versions to compare is offered only to those who may see the
  // candidates' sources: in a blind project a trainer picks just how many.
  const composerStatus = h("div", { class: "composer-status", id: "train-composer-status" });
  const message = h("textarea", { id: "train-message", rows: 2, placeholder: t("try.placeholder"), dataset: { field: "message" } });
  const n = h("select", { id: "train-n", dataset: { field: "n" } }, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => h("option", { value: i }, i)));
  n.value = "4";
  const lang = h("select", { id: "train-locale", dataset: { field: "locale" } }, h("option", { value: "zh-CN" }, "中文"), h("option", { value: "en" }, "English"));
  lang.value = locale();
  const generate = h("button", { type: "button", id: "train-generate", i18n: "train.generate" });
  // The candidates cycle through the checked versions, each with its own model.
  const versionBoxes = showSources && versions.length > 1
    ? versions.map((v) => {
      const box = h("input", { type: "checkbox", value: v.version, checked: true, dataset: { version: v.version } });
      return { v, box, label: h("label", { class: "check" }, box, `v${v.version} · ${v.model}`) };
    })
    : [];

  let cands = []; // [{id, label, position, messageId, model, promptVersion, status, content, error, pane, …}]
  let draft = null;
  let focusedThisTurn = false; // focus moves to candidate A once, when the turn's streams end
  let lastPane = null;
  let submitting = false;
  let commandSeq = 0;
  const regenerating = new Set(); // candidates this page asked to generate again
  // Where to show a websocket error: by the id of the command that caused it.
  const commandErrors = new Map();
  const send = (cmd, where) => {
    cmd.id = `${cmd.type}-${++commandSeq}`;
    commandErrors.set(cmd.id, where);
    pageLive.send(cmd);
  };

  const saveDraft = () => {
    if (!st.turnId || !draft) return;
    save(draftKey(st.turnId), draft);
    setSave("draft");
  };
  const rankable = () => cands.filter((c) => !unrankable(c));
  const focusPane = (c) => (c || cands[0])?.pane.focus();

  // The reply the conversation goes on from: the trainer's choice while it still exists,
  // otherwise the gold reply when written, otherwise the top-ranked candidate (or its edit).
  function continueChoice() {
    const gold = !!draft.gold?.trim();
    const edit = !!draft.edit?.content.trim();
    const cf = draft.continueFrom;
    const valid = (v) => v === "gold" ? gold : v === "edit" ? edit : !!v && rankable().some((c) => `c${c.id}` === v);
    if (valid(cf)) return { value: cf, chosen: true };
    if (gold) return { value: "gold", chosen: false };
    const ranked = rankable().filter((c) => draft.ranks[c.id]);
    const top = ranked.sort((a, b) => draft.ranks[a.id] - draft.ranks[b.id])[0];
    if (!top) return { value: null, chosen: false };
    if (edit && draft.edit.candidate_id === top.id) return { value: "edit", chosen: false };
    return { value: `c${top.id}`, chosen: false };
  }
  const continueLine = h("p", { class: "continue-line", id: "train-continue", dataset: { field: "continue_from" } });
  function refreshContinue() {
    if (!draft) return;
    const { value, chosen } = continueChoice();
    for (const r of [panes, judge].flatMap((el) => [...el.querySelectorAll('input[name="continue"]')])) r.checked = r.value === value;
    let what = null;
    if (value === "gold") what = t("train.continueGold");
    else if (value === "edit") what = t("train.continueEdit", { label: cands.find((c) => c.id === draft.edit.candidate_id)?.label ?? "?" });
    else if (value) what = t("train.continueCandidate", { label: cands.find((c) => `c${c.id}` === value)?.label ?? "?" });
    continueLine.dataset.value = value ?? "";
    continueLine.textContent = what ? t("train.continueFrom", { what }) + (chosen ? "" : t("train.continueDefault")) : t("train.continueNone");
  }
  const chooseContinue = (value) => {
    draft.continueFrom = value;
    saveDraft();
    refreshContinue();
  };

  function setRank(c, value) {
    draft.ranks[c.id] = value ? Number(value) : undefined;
    c.rank.value = value ? String(value) : "";
    saveDraft();
    refreshContinue();
  }

  function setRating(c, i, value) {
    const d = rubric[i];
    draft.ratings[c.id] ??= {};
    if (value == null) delete draft.ratings[c.id][d.key];
    else draft.ratings[c.id][d.key] = value;
    c.ratingSelects[i].value = value == null ? "" : String(value);
    saveDraft();
  }

  function toggleFlag(c, f, on) {
    const set = new Set(draft.flags[c.id] || []);
    (on ?? !set.has(f)) ? set.add(f) : set.delete(f);
    draft.flags[c.id] = [...set];
    c.flagBoxes[FLAGS.indexOf(f)].checked = set.has(f);
    saveDraft();
  }

  // The keyboard modes of a focused candidate: "score" (digits set the highlighted rubric
  // dimension, then the next) and "flag" (a digit toggles that flag).
  function setMode(c, mode, dim = 0) {
    if (mode) c.pane.dataset.mode = mode;
    else delete c.pane.dataset.mode;
    c.pane.querySelectorAll(".rating").forEach((el, i) => {
      el.toggleAttribute("data-active", mode === "score" && i === dim);
    });
    c.dim = dim;
  }

  function paneKey(c, e) {
    const i = cands.indexOf(c);
    const digit = /^[0-9]$/.test(e.key);
    if (c.pane.dataset.mode === "score") {
      const d = rubric[c.dim];
      if (digit) {
        const v = scoreFor(d, e.key);
        if (v == null) return true; // out of scale: spent, nothing changes
        setRating(c, c.dim, v);
        if (c.dim + 1 < rubric.length) setMode(c, "score", c.dim + 1);
        else setMode(c, null);
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
      if (e.key === "Escape" || e.key === "Enter") return true;
    } else if (c.pane.dataset.mode === "flag") {
      setMode(c, null);
      if (digit && Number(e.key) >= 1 && Number(e.key) <= FLAGS.length) toggleFlag(c, FLAGS[Number(e.key) - 1]);
      return true;
    }
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      focusPane(cands[Math.max(0, Math.min(cands.length - 1, i + (e.key === "ArrowRight" ? 1 : -1)))]);
      return true;
    }
    if (e.key === "p" && !passagesBox.hidden) {
      passagesBox.querySelector(".passage-list > li")?.focus();
      return true;
    }
    if (e.key === "g" || e.key === "e") return true; // acted on at keyup, once the keystroke is spent
    if (unrankable(c)) {
      if (e.key === "r") c.regen.click();
      return e.key === "r";
    }
    if (digit && Number(e.key) >= 1 && Number(e.key) <= cands.length) {
      setRank(c, e.key);
      return true;
    }
    if (e.key === "s" && rubric.length > 0) {
      setMode(c, "score", 0);
      return true;
    }
    if (e.key === "f") {
      setMode(c, "flag");
      return true;
    }
    if (e.key === "c") {
      chooseContinue(`c${c.id}`);
      return true;
    }
    return false;
  }

  function paneFor(c) {
    const body = h("div", { class: "reply", dataset: { role: "body" } });
    const stat = h("span", { class: "muted pane-status", dataset: { role: "status" } }, t("status.streaming"));
    const rank = h("select", { class: "rank", dataset: { role: "rank", field: `ranking.${c.id}` }, "aria-label": t("train.rank") },
      h("option", { value: "" }, "–"), cands.map((_, j) => h("option", { value: j + 1 }, j + 1)));
    rank.value = draft.ranks[c.id] ?? "";
    rank.addEventListener("change", () => setRank(c, rank.value));
    const ratingSelects = [];
    const ratings = rubric.map((d, i) => {
      const sel = h("select", { dataset: { dim: d.key, field: `ratings.${c.id}.${d.key}` } }, h("option", { value: "" }, "–"),
        Array.from({ length: d.scale_max - d.scale_min + 1 }, (_, k) => h("option", { value: d.scale_min + k }, d.scale_min + k)));
      sel.value = draft.ratings[c.id]?.[d.key] ?? "";
      sel.addEventListener("change", () => setRating(c, i, sel.value ? Number(sel.value) : null));
      ratingSelects.push(sel);
      return h("label", { class: "rating", dataset: { index: i + 1 }, title: locale() === "en" ? d.guide_en : d.guide },
        h("span", { class: "key-hint" }, i + 1), h("span", {}, locale() === "en" ? d.label_en : d.label), sel);
    });
    const flagBoxes = FLAGS.map((f) => {
      const box = h("input", { type: "checkbox", value: f, checked: (draft.flags[c.id] || []).includes(f) });
      box.addEventListener("change", () => toggleFlag(c, f, box.checked));
      return box;
    });
    const flags = FLAGS.map((f, i) => h("label", { class: "check" }, flagBoxes[i], h("span", { class: "key-hint" }, i + 1), t(`flag.${f}`)));
    const cont = h("input", { type: "radio", name: "continue", value: `c${c.id}` });
    cont.addEventListener("change", () => chooseContinue(`c${c.id}`));
    const editBtn = h("button", { type: "button", class: "link", dataset: { role: "edit" }, i18n: "train.edit" });
    editBtn.addEventListener("click", () => startEdit(c));
    const controls = h("div", { class: "pane-controls" },
      h("div", { class: "ratings", dataset: { field: `ratings.${c.id}` } }, ratings),
      h("div", { class: "flags", dataset: { field: `flags.${c.id}` } }, flags),
      h("div", { class: "row" }, h("label", { class: "check" }, cont, t("train.continueHere")), editBtn));
    // Left out of the ranking: say why, and offer to generate it again in place.
    const reason = h("p", { class: "failed-reason" });
    const regenMsg = h("div", { class: "regen-status" });
    const regen = h("button", { type: "button", class: "regenerate", dataset: { role: "regenerate" }, i18n: "train.regenerate" });
    regen.addEventListener("click", () => {
      if (!st.turnId) return;
      regen.disabled = true;
      regen.textContent = t("train.regenerating");
      clear(regenMsg);
      regenerating.add(c.id);
      send({ type: "regenerate", turn_id: st.turnId, candidate_id: c.id }, {
        root: failed, fallback: regenMsg, after: () => {
          regenerating.delete(c.id);
          regen.disabled = false;
          regen.textContent = t("train.regenerate");
        },
      });
    });
    const failed = h("div", { class: "pane-failed", hidden: true }, reason, h("div", { class: "row" }, regen), regenMsg);
    // Drag a pane by its header onto another to put it in that place: the ranks are
    // rewritten in the new order, 1…N (ties are for the keyboard).
    const source = showSources && c.model ? h("code", { class: "source" }, ` ${c.model}${c.promptVersion ? ` v${c.promptVersion}` : ""}`) : null;
    const handle = h("header", { draggable: "true", title: t("train.drag") }, h("strong", {}, c.label), source, " ", stat, " ", rank);
    handle.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData("text/plain", String(c.id));
      e.dataTransfer.effectAllowed = "move";
    });
    const pane = h("section", { class: "pane", tabindex: 0, "aria-label": t("train.candidate", { label: c.label }),
      dataset: { candidate: c.id, label: c.label, status: c.status } }, handle, body, controls, failed);
    pane.addEventListener("dragover", (e) => e.preventDefault());
    pane.addEventListener("drop", (e) => {
      e.preventDefault();
      const dragged = Number(e.dataTransfer.getData("text/plain"));
      if (dragged && dragged !== c.id) dropBefore(dragged, c.id);
    });
    pane.addEventListener("focus", () => (lastPane = c));
    pane.addEventListener("blur", () => setMode(c, null));
    pane.addEventListener("keydown", (e) => {
      if (e.target !== pane || e.ctrlKey || e.metaKey || e.altKey) return; // typing in a field is not a shortcut
      if (paneKey(c, e)) e.preventDefault();
    });
    pane.addEventListener("keyup", (e) => {
      if (e.target !== pane || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "e" && !unrankable(c)) startEdit(c);
      if (e.key === "g") gold.focus();
    });
    Object.assign(c, { pane, body, stat, rank, ratingSelects, flagBoxes, controls, failed, reason, regen, dim: 0 });
    showCandidate(c);
    return pane;
  }

  // showCandidate brings a pane in line with its candidate's state.
  function showCandidate(c) {
    const out = unrankable(c);
    c.pane.dataset.status = c.status;
    c.pane.dataset.rankable = String(!out);
    c.controls.hidden = out;
    c.rank.hidden = out;
    c.failed.hidden = !out;
    if (c.status === "streaming") {
      c.stat.textContent = t("status.streaming");
      return;
    }
    c.stat.textContent = t(`status.${c.status}`) + (out ? ` · ${t("train.notRanked")}` : c.error ? ` · ${c.error}` : "");
    if (out) c.reason.textContent = c.error ? t("train.failedReason", { reason: c.error }) : t("train.empty");
  }

  // dropBefore puts a candidate in another's place in the ranking and renumbers 1…N in the
  // order of the ranks given so far (unranked ones last, in screen order).
  function dropBefore(draggedId, targetId) {
    const order = rankable().sort((a, b) => (draft.ranks[a.id] ?? 99) - (draft.ranks[b.id] ?? 99)).map((x) => x.id);
    if (!order.includes(draggedId) || !order.includes(targetId)) return;
    order.splice(order.indexOf(draggedId), 1);
    order.splice(order.indexOf(targetId), 0, draggedId);
    order.forEach((id, i) => setRank(cands.find((x) => x.id === id), i + 1));
  }

  const editBox = h("div", { id: "train-edit", hidden: true, dataset: { field: "edit" } });
  let diffTimer = 0;
  function startEdit(c) {
    draft.edit = draft.edit?.candidate_id === c.id ? draft.edit : { candidate_id: c.id, content: c.content };
    renderEdit();
    saveDraft();
    editBox.querySelector("textarea").focus();
  }
  function renderEdit() {
    if (!draft.edit) {
      editBox.hidden = true;
      clear(editBox);
      refreshContinue();
      return;
    }
    const c = cands.find((x) => x.id === draft.edit.candidate_id);
    const area = h("textarea", { id: "train-edit-text", rows: 5, value: draft.edit.content, dataset: { field: "edit.content" } });
    const diff = h("div", { class: "diff", id: "train-edit-diff" });
    const showDiff = async () => {
      const { ops } = await api("POST", "/diff", { from: c?.content ?? "", to: area.value });
      replace(diff, ops.map(([op, text]) => h("span", { class: op > 0 ? "add" : op < 0 ? "del" : "" }, text)));
    };
    area.addEventListener("input", () => {
      draft.edit.content = area.value;
      saveDraft();
      refreshContinue();
      clearTimeout(diffTimer);
      diffTimer = setTimeout(showDiff, 250);
    });
    const cont = h("input", { type: "radio", name: "continue", value: "edit" });
    cont.addEventListener("change", () => chooseContinue("edit"));
    const drop = h("button", { type: "button", class: "link", i18n: "common.remove", onclick: () => {
      draft.edit = null;
      if (draft.continueFrom === "edit") draft.continueFrom = null;
      saveDraft();
      renderEdit();
    } });
    replace(editBox, h("h3", {}, t("train.editing", { label: c?.label ?? "?" })), area, diff,
      h("div", { class: "row" }, h("label", { class: "check" }, cont, t("train.continueHere")), drop));
    editBox.hidden = false;
    refreshContinue();
    showDiff();
  }

  const gold = h("textarea", { id: "train-gold", rows: 3, dataset: { field: "gold" } });
  gold.addEventListener("input", () => {
    draft.gold = gold.value;
    saveDraft();
    refreshContinue();
  });
  const goldCont = h("input", { type: "radio", name: "continue", value: "gold" });
  goldCont.addEventListener("change", () => chooseContinue("gold"));
  const comment = h("textarea", { id: "train-comment", rows: 2, dataset: { field: "comment" } });
  comment.addEventListener("input", () => {
    draft.comment = comment.value;
    saveDraft();
  });
  const submitStatus = h("div", { class: "submit-status", id: "train-submit-status" });
  const submit = h("button", { type: "button", id: "train-submit", i18n: "train.submit" });
  submit.addEventListener("click", () => submitJudgment());
  const help = keysHelp(rubric, FLAGS);
  const keysButton = (id) => h("button", { type: "button", class: "link keys-button", id, onclick: () => help.toggle() }, t("train.keys"));
  replace(judge, editBox,
    h("label", { class: "field" }, h("span", { i18n: "train.gold" }), gold, h("label", { class: "check" }, goldCont, t("train.continueHere"))),
    h("label", { class: "field" }, h("span", { i18n: "train.comment" }), comment),
    continueLine,
    h("div", { class: "row" }, submit, saveState2, keysButton("train-keys-button")),
    submitStatus);

  function showTurn(candidates) {
    draft = load(draftKey(st.turnId), null) ?? {
      key: crypto.randomUUID(), ranks: {}, ratings: {}, flags: {}, edit: null, gold: "", comment: "", continueFrom: null, started: Date.now(),
    };
    cands = candidates.sort((a, b) => a.position - b.position);
    focusedThisTurn = false;
    lastPane = null;
    replace(panes, cands.map((c) => paneFor(c)));
    panes.dataset.turn = st.turnId;
    // Up to four candidates share one row; more wrap into two rows of equal width.
    panes.style.setProperty("--columns", String(cands.length <= 4 ? cands.length : Math.ceil(cands.length / 2)));
    gold.value = draft.gold || "";
    comment.value = draft.comment || "";
    renderEdit();
    clearErrors(page);
    clear(submitStatus);
    submit.disabled = false;
    judge.hidden = false;
    setSave(load(draftKey(st.turnId), null) ? "draft" : "idle");
    refreshContinue();
    showPassages();
  }

  function finish(c, ev) {
    c.status = ev.status;
    c.error = ev.error || "";
    if (ev.type === "snapshot") {
      c.content = ev.content ?? "";
      replace(c.body, c.content);
    }
    if (ev.html) showRendered(c.body, ev.html);
    showCandidate(c);
    refreshContinue();
    whenAllDone();
  }

  // When the turn's streams have all ended, the keyboard starts on candidate A, unless the
  // trainer is writing in a field.
  function whenAllDone() {
    if (focusedThisTurn || cands.length === 0 || cands.some((c) => c.status === "streaming")) return;
    focusedThisTurn = true;
    if (!typing(document.activeElement) || document.activeElement === message) focusPane(cands[0]);
  }

  // A candidate that streams again (regenerated) starts from an empty pane. When this page
  // asked for it, what was judged of its old text no longer holds; a replay of the turn's
  // events after a reload passes the same start again, and keeps the draft.
  function restart(c) {
    Object.assign(c, { status: "streaming", content: "", error: "" });
    if (regenerating.delete(c.id)) {
      delete draft.ranks[c.id];
      delete draft.ratings[c.id];
      delete draft.flags[c.id];
      if (draft.edit?.candidate_id === c.id) draft.edit = null;
    }
    const had = c.pane;
    had.replaceWith(paneFor(c));
    if (document.activeElement === document.body || had.contains(document.activeElement)) c.pane.focus();
    saveDraft();
    renderEdit();
  }

  function onEvent(ev) {
    if (ev.type === "turn") {
      st.turnId = ev.turn_id;
      st.conversationId = ev.conversation_id;
      saveState();
      clear(composerStatus);
      // Labels come from positions, as in the conversation path and the passages' citations,
      // so they agree however the server ordered (or, ranking blind, shuffled) the candidates.
      showTurn(ev.candidates.map((c) => ({ id: c.candidate_id, label: letter(c.position), position: c.position,
        messageId: c.message_id, model: c.model, promptVersion: c.prompt_version, status: "streaming", content: "", error: "" })));
      return;
    }
    if (ev.type === "error") {
      const where = commandErrors.get(ev.id) || { root: page, fallback: status };
      commandErrors.delete(ev.id);
      where.after?.();
      showError(where.root, ev, where.fallback);
      return;
    }
    if (ev.type === "session-ended") {
      replace(status, errorBox({ message: t("train.sessionEnded") }));
      return;
    }
    const c = cands.find((x) => x.id === ev.candidate_id);
    if (!c || ev.turn_id !== st.turnId) return;
    if (ev.type === "start") {
      if (c.content || c.status !== "streaming") restart(c);
    } else if (ev.type === "delta") {
      c.content += ev.content;
      c.body.append(ev.content); // text while it streams
    } else if (ev.type === "done" || ev.type === "snapshot") {
      finish(c, ev);
    }
  }

  // This page's own socket: a page that a quicker re-render (a language switch, say) has
  // replaced must not reach for the next page's, which may not exist yet.
  const pageLive = new Live(onEvent, { onState: showConnection });
  lives.add(pageLive);
  page.discard = () => {
    pageLive.close();
    lives.delete(pageLive);
  };

  async function ask() {
    const text = message.value.trim();
    if (!text) return;
    clearErrors(composer);
    clear(composerStatus);
    st.question = text;
    saveState();
    const chosen = versionBoxes.filter((x) => x.box.checked).map((x) => x.v);
    if (versionBoxes.length > 0 && chosen.length === 0) {
      showError(composer, { field: "plan", message: t("train.pickVersion") }, composerStatus);
      return;
    }
    const cmd = { type: "generate", persona_id: persona.id, message: text, locale: lang.value };
    if (chosen.length === versions.length || versionBoxes.length === 0) cmd.n = Number(n.value); // all: the server's default plan
    else cmd.plan = Array.from({ length: Number(n.value) }, (_, i) => ({ prompt_version: chosen[i % chosen.length].version }));
    if (st.conversationId && st.parentMessageId) {
      cmd.conversation_id = st.conversationId;
      cmd.parent_message_id = st.parentMessageId;
    }
    message.value = "";
    send(cmd, { root: composer, fallback: composerStatus, after: () => (message.value ||= text) });
  }
  generate.addEventListener("click", ask);
  message.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.shiftKey) {
      e.preventDefault();
      ask();
    }
  });

  // judgmentBody builds the submission, or says (as an error naming the field) what is missing.
  function judgmentBody() {
    if (cands.some((c) => c.status === "streaming")) return { error: { field: "ranking", message: t("train.stillStreaming") } };
    const ranked = rankable();
    const unranked = ranked.find((c) => !draft.ranks[c.id]);
    if (unranked) {
      focusPane(unranked);
      return { error: { field: `ranking.${unranked.id}`, message: t("train.rankAll") } };
    }
    const groups = new Map();
    for (const c of ranked) {
      const r = draft.ranks[c.id];
      if (!groups.has(r)) groups.set(r, []);
      groups.get(r).push(c.id);
    }
    const { value: cf } = continueChoice();
    if (!cf) return { error: { field: "continue_from", message: t(ranked.length ? "train.pickContinue" : "train.nothingToRank") } };
    const only = (m) => Object.fromEntries(Object.entries(m).filter(([id, v]) => ranked.some((c) => String(c.id) === id) && Object.keys(v).length > 0));
    return {
      body: {
        idempotency_key: draft.key,
        ranking: [...groups.keys()].sort((a, b) => a - b).map((k) => groups.get(k)),
        ratings: only(draft.ratings),
        flags: only(draft.flags),
        comment: draft.comment || "",
        edit: draft.edit && draft.edit.content.trim() ? draft.edit : null,
        gold: draft.gold && draft.gold.trim() ? { content: draft.gold } : null,
        continue_from: cf === "edit" ? { edit: true } : cf === "gold" ? { gold: true } : { candidate_id: Number(cf.slice(1)) },
        time_spent_ms: Math.max(0, Date.now() - (draft.started || Date.now())),
      },
    };
  }

  async function submitJudgment() {
    // Nothing to judge (no turn yet, or this one was just submitted), or a submission is on
    // its way: the button does nothing rather than post for a turn that is not there.
    if (!st.turnId || !draft || submitting || judge.hidden) return;
    clearErrors(page);
    clear(submitStatus);
    const { body, error } = judgmentBody();
    if (error) {
      showError(page, error, submitStatus);
      return;
    }
    const turnId = st.turnId;
    submitting = true;
    submit.disabled = true;
    setSave("saving");
    try {
      const res = await api("POST", `/turns/${turnId}/judgments`, body);
      st.parentMessageId = res.continuation_message_id;
      localStorage.removeItem(draftKey(turnId));
      st.turnId = null;
      draft = null;
      cands = [];
      saveState();
      showPath();
      clear(panes);
      delete panes.dataset.turn;
      passagesBox.hidden = true;
      judge.hidden = true;
      clear(status);
      setSave("submitted");
      status.append(saveState2);
      message.focus();
    } catch (err) {
      setSave("failed");
      submit.disabled = false;
      showError(page, err, submitStatus);
    } finally {
      submitting = false;
    }
  }

  document.addEventListener("keydown", function shortcut(e) {
    if (!document.body.contains(panes)) {
      document.removeEventListener("keydown", shortcut);
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.shiftKey) {
      e.preventDefault();
      submitJudgment();
      return;
    }
    const el = document.activeElement;
    if (e.key === "Escape" && help.open()) {
      help.toggle(false);
      e.preventDefault();
    } else if (e.key === "?" && !typing(el)) {
      help.toggle();
      e.preventDefault();
    } else if (e.key === "Escape" && typing(el) && judge.contains(el) && cands.length) {
      focusPane(lastPane); // back from the gold reply, the comment or the edit
      e.preventDefault();
    } else if (!typing(el) && (el === document.body || !el) && cands.length && /^(Arrow(Left|Right)|[1-8])$/.test(e.key)) {
      focusPane(lastPane); // the keyboard was nowhere: start on the candidates
      e.preventDefault();
    }
  });

  // A reload in the middle of a turn: show it again, from memory or the database.
  if (st.turnId) {
    try {
      const { turn } = await api("GET", `/turns/${st.turnId}`);
      const number = new Map(versions.map((v) => [v.id, v.version]));
      showTurn(turn.candidates.map((c) => ({ id: c.id, label: letter(c.position), position: c.position, messageId: c.message_id,
        model: c.model, promptVersion: number.get(c.prompt_version_id), status: c.status, content: c.content, error: c.error || "" })));
      if (cands.some((c) => c.status === "streaming")) {
        // The stream replays everything from the start, into empty panes.
        for (const c of cands) {
          Object.assign(c, { status: "streaming", content: "" });
          clear(c.body);
          showCandidate(c);
        }
        pageLive.follow(st.turnId);
      } else {
        for (const c of cands) c.body.append(c.content);
        whenAllDone();
      }
    } catch {
      st.turnId = null;
      saveState();
    }
  }

  const restartButton = h("button", { type: "button", class: "link", id: "train-new", i18n: "train.newConversation", onclick: () => {
    localStorage.removeItem(stateKey(personaId));
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } });
  const composer = h("div", { class: "composer" }, message,
    versionBoxes.length
      ? h("div", { class: "row versions", id: "train-versions", dataset: { field: "plan" } }, h("span", { class: "muted", i18n: "train.versionsLabel" }), versionBoxes.map((x) => x.label))
      : null,
    h("div", { class: "row" }, h("label", { class: "check" }, t("train.candidates"), " ", n), lang, generate,
      h("small", { class: "muted", i18n: "try.hint" })),
    composerStatus);
  return append(page, [
    h("header", { class: "persona-head" }, avatar(persona), h("div", {}, h("h1", {}, personaName(persona)),
      h("p", { class: "muted" }, showSources ? t("train.versions", { n: versions.length }) : t("train.blind"),
        " · ", restartButton, " · ", keysButton("train-keys-top")))),
    pathBox, composer,
    connection, status, h("div", { class: "train-body" }, panes, passagesBox), judge, help.el]);
}
