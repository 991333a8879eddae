import { api } from "../api.js";
import { append, clear, errorBox, h, replace, showRendered } from "../dom.js";
import { locale, t } from "../i18n.js";
import { Live } from "../ws.js";
import { avatar, personaName } from "./project.js";

// The trainer's screen: ask, watch N candidates stream side by side, rank (number keys),
// rate, flag, correct one or write the gold reply, submit, and continue from the chosen reply.
// The conversation and the judgment draft live in localStorage, so a reload loses nothing.

let live = null;

export function stopLive() {
  live?.close();
  live = null;
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

export async function trainPage(personaId) {
  stopLive();
  const { persona, rubric, versions } = await api("GET", `/personas/${personaId}`);
  const st = load(stateKey(personaId), { conversationId: null, parentMessageId: null, turnId: null, question: "" });
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
    const label = (m) =>
      m.candidate_position ? String.fromCharCode(64 + m.candidate_position) : t(m.author === "human" ? "train.humanReply" : "train.reply");
    // deepest follows a reply down its most recent continuation, to the last continued reply.
    const deepest = (m) => {
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
  }
  showPath();

  const saveState2 = h("span", { class: "save-state", id: "train-save", dataset: { state: "idle" } });
  const setSave = (state) => {
    saveState2.dataset.state = state;
    saveState2.textContent = t(`train.save.${state}`);
  };
  const status = h("div", { id: "train-status" });
  const panes = h("div", { class: "panes", id: "train-panes" });
  const judge = h("div", { class: "judge", id: "train-judge", hidden: true });

  // The passages the candidates were given, numbered as they cite them. Trainers mark each
  // one, and the gold reply cites them as [n]; the marks become retrieval labels.
  // The panel takes its place as soon as a grounded turn starts, and its height never
  // sizes the row (see .passage-panel): nothing moves under the trainer's pointer when the
  // passages arrive.
  const passagesBox = h("aside", { class: "passage-panel", id: "train-passages", hidden: true });
  const grounded = versions.some((v) => v.retrieval_k > 0 && v.corpus_ids.length > 0);
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
    const grades = [[2, "★", "train.passage.key"], [1, "✓", "train.passage.relevant"], [0, "✗", "train.passage.irrelevant"]];
    replace(passagesBox, h("h3", { i18n: "train.passages" }), h("small", { class: "muted", i18n: "train.passagesHint" }),
      h("ol", { class: "passage-list" }, passages.map((p) => {
        const li = h("li", { dataset: { chunk: p.chunk_id, n: p.n, grade: p.grade ?? "" } });
        const buttons = grades.map(([g, symbol, key]) => {
          const b = h("button", { type: "button", class: "mark", title: t(key), "aria-label": t(key), dataset: { grade: g } }, symbol);
          b.addEventListener("click", async () => {
            try {
              await api("PUT", `/turns/${turnId}/passages/${p.chunk_id}/mark`, { grade: g });
              li.dataset.grade = g;
            } catch (err) {
              li.append(errorBox(err));
            }
          });
          return b;
        });
        return append(li, [
          h("div", { class: "passage-head" }, h("strong", {}, `[${p.n}] `), p.title,
            // Where a candidate numbered it differently (another prompt version), say so.
            Object.entries(p.as_cited || {}).some(([, n]) => n !== p.n)
              ? h("span", { class: "muted as-cited" }, " (", Object.entries(p.as_cited).map(([pos, n]) => `${String.fromCharCode(64 + Number(pos))}[${n}]`).join(" "), ")")
              : null,
            p.heading_path.length ? h("span", { class: "muted" }, ` › ${p.heading_path.join(" › ")}`) : null,
            p.current ? null : h("span", { class: "badge outdated", i18n: "train.passage.outdated" })),
          h("div", { class: "passage-text" }, p.text),
          h("div", { class: "marks" }, buttons)]);
      })));
  }

  const message = h("textarea", { id: "train-message", rows: 2, placeholder: t("try.placeholder") });
  const n = h("select", { id: "train-n" }, [1, 2, 3, 4, 5, 6, 7, 8].map((i) => h("option", { value: i }, i)));
  n.value = "4";
  const lang = h("select", { id: "train-locale" }, h("option", { value: "zh-CN" }, "中文"), h("option", { value: "en" }, "English"));
  lang.value = locale();
  const generate = h("button", { type: "button", id: "train-generate", i18n: "train.generate" });
  // Which prompt versions to compare: the candidates cycle through the checked ones, each
  // with its own model.
  const versionBoxes = versions.map((v) => {
    const box = h("input", { type: "checkbox", value: v.version, checked: true, dataset: { version: v.version } });
    return { v, box, label: h("label", { class: "check" }, box, `v${v.version} · ${v.model}`) };
  });

  let cands = []; // [{id, label, messageId, pane, body, status, content}]
  let draft = null;

  const saveDraft = () => {
    if (!st.turnId || !draft) return;
    save(draftKey(st.turnId), draft);
    setSave("draft");
  };

  function paneFor(c, i) {
    const body = h("div", { class: "reply", dataset: { role: "body" } });
    const stat = h("span", { class: "muted", dataset: { role: "status" } }, t("status.streaming"));
    const rank = h("select", { class: "rank", dataset: { role: "rank" } }, h("option", { value: "" }, "–"),
      cands.map((_, j) => h("option", { value: j + 1 }, j + 1)));
    rank.value = draft.ranks[c.id] ?? "";
    rank.addEventListener("change", () => {
      draft.ranks[c.id] = rank.value ? Number(rank.value) : undefined;
      saveDraft();
    });
    const ratings = rubric.map((d) => {
      const sel = h("select", { dataset: { dim: d.key } }, h("option", { value: "" }, "–"),
        Array.from({ length: d.scale_max - d.scale_min + 1 }, (_, k) => h("option", { value: d.scale_min + k }, d.scale_min + k)));
      sel.value = draft.ratings[c.id]?.[d.key] ?? "";
      sel.addEventListener("change", () => {
        draft.ratings[c.id] ??= {};
        if (sel.value) draft.ratings[c.id][d.key] = Number(sel.value);
        else delete draft.ratings[c.id][d.key];
        saveDraft();
      });
      return h("label", { class: "rating" }, h("span", {}, locale() === "en" ? d.label_en : d.label), sel);
    });
    const flags = FLAGS.map((f) => {
      const box = h("input", { type: "checkbox", value: f, checked: (draft.flags[c.id] || []).includes(f) });
      box.addEventListener("change", () => {
        const set = new Set(draft.flags[c.id] || []);
        box.checked ? set.add(f) : set.delete(f);
        draft.flags[c.id] = [...set];
        saveDraft();
      });
      return h("label", { class: "check" }, box, t(`flag.${f}`));
    });
    const cont = h("input", { type: "radio", name: "continue", value: `c${c.id}`, checked: draft.continueFrom === `c${c.id}` });
    cont.addEventListener("change", () => {
      draft.continueFrom = `c${c.id}`;
      saveDraft();
    });
    const editBtn = h("button", { type: "button", class: "link", dataset: { role: "edit" }, i18n: "train.edit" });
    editBtn.addEventListener("click", () => startEdit(c));
    // Drag a pane by its header onto another to put it in that place: the ranks are
    // rewritten in the new order, 1…N (ties are for the keyboard).
    const handle = h("header", { draggable: "true", title: t("train.drag") },
      h("strong", {}, c.label), c.model ? h("code", {}, ` ${c.model} v${c.promptVersion}`) : null, " ", stat, " ", rank);
    handle.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData("text/plain", String(c.id));
      e.dataTransfer.effectAllowed = "move";
    });
    const pane = h("section", { class: "pane", tabindex: 0, dataset: { candidate: c.id, label: c.label, status: "streaming" } }, handle,
      body, h("div", { class: "ratings" }, ratings), h("div", { class: "flags" }, flags),
      h("div", { class: "row" }, h("label", { class: "check" }, cont, t("train.continueHere")), editBtn));
    pane.addEventListener("dragover", (e) => e.preventDefault());
    pane.addEventListener("drop", (e) => {
      e.preventDefault();
      const dragged = Number(e.dataTransfer.getData("text/plain"));
      if (dragged && dragged !== c.id) dropBefore(dragged, c.id);
    });
    pane.addEventListener("keydown", (e) => {
      if (e.target !== pane) return; // typing in a field is not a shortcut
      if (/^[1-8]$/.test(e.key) && Number(e.key) <= cands.length) {
        rank.value = e.key;
        rank.dispatchEvent(new Event("change"));
        e.preventDefault();
      } else if (e.key === "e") {
        e.preventDefault(); // editing starts on keyup, once this keystroke is spent
      }
    });
    pane.addEventListener("keyup", (e) => {
      if (e.target === pane && e.key === "e") startEdit(c);
    });
    Object.assign(c, { pane, body, stat });
    return pane;
  }

  // dropBefore puts a candidate in another's place in the ranking and renumbers 1…N in the
  // order of the ranks given so far (unranked ones last, in screen order).
  function dropBefore(draggedId, targetId) {
    const order = [...cands].sort((a, b) => (draft.ranks[a.id] ?? 99) - (draft.ranks[b.id] ?? 99)).map((x) => x.id);
    order.splice(order.indexOf(draggedId), 1);
    order.splice(order.indexOf(targetId), 0, draggedId);
    order.forEach((id, i) => {
      draft.ranks[id] = i + 1;
      const sel = cands.find((x) => x.id === id).pane.querySelector("select.rank");
      sel.value = String(i + 1);
    });
    saveDraft();
  }

  const editBox = h("div", { id: "train-edit", hidden: true });
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
      return;
    }
    const c = cands.find((x) => x.id === draft.edit.candidate_id);
    const area = h("textarea", { id: "train-edit-text", rows: 5, value: draft.edit.content });
    const diff = h("div", { class: "diff", id: "train-edit-diff" });
    const showDiff = async () => {
      const { ops } = await api("POST", "/diff", { from: c?.content ?? "", to: area.value });
      replace(diff, ops.map(([op, text]) => h("span", { class: op > 0 ? "add" : op < 0 ? "del" : "" }, text)));
    };
    area.addEventListener("input", () => {
      draft.edit.content = area.value;
      saveDraft();
      clearTimeout(diffTimer);
      diffTimer = setTimeout(showDiff, 250);
    });
    const cont = h("input", { type: "radio", name: "continue", value: "edit", checked: draft.continueFrom === "edit" });
    cont.addEventListener("change", () => {
      draft.continueFrom = "edit";
      saveDraft();
    });
    const drop = h("button", { type: "button", class: "link", i18n: "common.remove", onclick: () => {
      draft.edit = null;
      if (draft.continueFrom === "edit") draft.continueFrom = null;
      saveDraft();
      renderEdit();
    } });
    replace(editBox, h("h3", {}, t("train.editing", { label: c?.label ?? "?" })), area, diff,
      h("div", { class: "row" }, h("label", { class: "check" }, cont, t("train.continueHere")), drop));
    editBox.hidden = false;
    showDiff();
  }

  const gold = h("textarea", { id: "train-gold", rows: 3 });
  gold.addEventListener("input", () => {
    draft.gold = gold.value;
    saveDraft();
  });
  const goldCont = h("input", { type: "radio", name: "continue", value: "gold" });
  goldCont.addEventListener("change", () => {
    draft.continueFrom = "gold";
    saveDraft();
  });
  const comment = h("textarea", { id: "train-comment", rows: 2 });
  comment.addEventListener("input", () => {
    draft.comment = comment.value;
    saveDraft();
  });
  const submit = h("button", { type: "button", id: "train-submit", i18n: "train.submit" });
  submit.addEventListener("click", () => submitJudgment());
  replace(judge, editBox,
    h("label", { class: "field" }, h("span", { i18n: "train.gold" }), gold, h("label", { class: "check" }, goldCont, t("train.continueHere"))),
    h("label", { class: "field" }, h("span", { i18n: "train.comment" }), comment),
    h("div", { class: "row" }, submit, saveState2, h("small", { class: "muted", i18n: "train.keys" })));

  function showTurn(candidates) {
    draft = load(draftKey(st.turnId), null) ?? {
      key: crypto.randomUUID(), ranks: {}, ratings: {}, flags: {}, edit: null, gold: "", comment: "", continueFrom: null, started: Date.now(),
    };
    cands = candidates;
    replace(panes, cands.map((c, i) => paneFor(c, i)));
    panes.dataset.turn = st.turnId;
    gold.value = draft.gold || "";
    goldCont.checked = draft.continueFrom === "gold";
    comment.value = draft.comment || "";
    renderEdit();
    judge.hidden = false;
    setSave(load(draftKey(st.turnId), null) ? "draft" : "idle");
    showPassages();
  }

  function finish(c, ev) {
    c.pane.dataset.status = ev.status;
    c.stat.textContent = t(`status.${ev.status}`) + (ev.error ? ` · ${ev.error}` : "");
    if (ev.type === "snapshot") c.content = ev.content ?? "";
    if (ev.html) showRendered(c.body, ev.html);
  }

  function onEvent(ev) {
    if (ev.type === "turn") {
      st.turnId = ev.turn_id;
      st.conversationId = ev.conversation_id;
      saveState();
      showTurn(ev.candidates.map((c) => ({ id: c.candidate_id, label: c.label, messageId: c.message_id, model: c.model,
        promptVersion: c.prompt_version, content: "" })));
      return;
    }
    if (ev.type === "error") {
      replace(status, errorBox(ev));
      return;
    }
    if (ev.type === "session-ended") {
      replace(status, errorBox({ message: t("train.sessionEnded") }));
      return;
    }
    const c = cands.find((x) => x.id === ev.candidate_id);
    if (!c) return;
    if (ev.type === "delta") {
      c.content += ev.content;
      c.body.append(ev.content); // text while it streams
    } else if (ev.type === "done" || ev.type === "snapshot") {
      finish(c, ev);
    }
  }

  live = new Live(onEvent);

  async function ask() {
    const text = message.value.trim();
    if (!text) return;
    clear(status);
    st.question = text;
    saveState();
    const chosen = versionBoxes.filter((x) => x.box.checked).map((x) => x.v);
    if (chosen.length === 0) {
      replace(status, errorBox({ message: t("train.pickVersion") }));
      return;
    }
    const cmd = { type: "generate", id: "g", persona_id: persona.id, message: text, locale: lang.value };
    if (chosen.length === versions.length) cmd.n = Number(n.value); // all: the server's default plan
    else cmd.plan = Array.from({ length: Number(n.value) }, (_, i) => ({ prompt_version: chosen[i % chosen.length].version }));
    if (st.conversationId && st.parentMessageId) {
      cmd.conversation_id = st.conversationId;
      cmd.parent_message_id = st.parentMessageId;
    }
    message.value = "";
    live.send(cmd);
  }
  generate.addEventListener("click", ask);
  message.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.shiftKey) {
      e.preventDefault();
      ask();
    }
  });

  async function submitJudgment() {
    const groups = new Map();
    for (const c of cands) {
      const r = draft.ranks[c.id];
      if (!r) {
        replace(status, errorBox({ message: t("train.rankAll") }));
        return;
      }
      if (!groups.has(r)) groups.set(r, []);
      groups.get(r).push(c.id);
    }
    const ranking = [...groups.keys()].sort((a, b) => a - b).map((k) => groups.get(k));
    const cf = draft.continueFrom;
    const body = {
      idempotency_key: draft.key, ranking, ratings: draft.ratings, flags: draft.flags, comment: draft.comment || "",
      edit: draft.edit && draft.edit.content.trim() ? draft.edit : null,
      gold: draft.gold && draft.gold.trim() ? { content: draft.gold } : null,
      continue_from: cf === "edit" ? { edit: true } : cf === "gold" ? { gold: true } : cf ? { candidate_id: Number(cf.slice(1)) } : {},
      time_spent_ms: Math.max(0, Date.now() - (draft.started || Date.now())),
    };
    setSave("saving");
    try {
      const res = await api("POST", `/turns/${st.turnId}/judgments`, body);
      st.parentMessageId = res.continuation_message_id;
      localStorage.removeItem(draftKey(st.turnId));
      st.turnId = null;
      saveState();
      showPath();
      clear(panes);
      passagesBox.hidden = true;
      judge.hidden = true;
      clear(status);
      setSave("submitted");
      status.append(saveState2);
      message.focus();
    } catch (err) {
      setSave("failed");
      replace(status, errorBox(err));
    }
  }

  document.addEventListener("keydown", function shortcut(e) {
    if (!document.body.contains(panes)) {
      document.removeEventListener("keydown", shortcut);
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.shiftKey && st.turnId) {
      e.preventDefault();
      submitJudgment();
    }
  });

  // A reload in the middle of a turn: show it again, from memory or the database.
  if (st.turnId) {
    try {
      const { turn } = await api("GET", `/turns/${st.turnId}`);
      showTurn(turn.candidates.map((c, i) => ({ id: c.id, label: String.fromCharCode(65 + i), messageId: c.message_id, content: c.content })));
      for (const c of cands) {
        const stored = turn.candidates.find((x) => x.id === c.id);
        if (stored.status === "streaming") {
          live.follow(st.turnId); // replays everything, so start from empty panes
          for (const x of cands) {
            clear(x.body);
            x.content = "";
          }
          break;
        }
        c.body.append(stored.content);
        finish(c, { status: stored.status, error: stored.error });
      }
    } catch {
      st.turnId = null;
      saveState();
    }
  }

  const restart = h("button", { type: "button", class: "link", id: "train-new", i18n: "train.newConversation", onclick: () => {
    localStorage.removeItem(stateKey(personaId));
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } });
  return h("div", { class: "page train" },
    h("header", { class: "persona-head" }, avatar(persona), h("div", {}, h("h1", {}, personaName(persona)),
      h("p", { class: "muted" }, t("train.versions", { n: versions.length }), " · ", restart))),
    pathBox,
    h("div", { class: "composer" }, message,
      h("div", { class: "row versions", id: "train-versions" }, h("span", { class: "muted", i18n: "train.versionsLabel" }), versionBoxes.map((x) => x.label)),
      h("div", { class: "row" }, h("label", { class: "check" }, t("train.candidates"), " ", n), lang, generate,
        h("small", { class: "muted", i18n: "try.hint" }))),
    status, h("div", { class: "train-body" }, panes, passagesBox), judge);
}
