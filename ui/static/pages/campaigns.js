// campaigns: a project's campaign set-up, for its admins. Each campaign shows its progress
// (ready, generating, failed, completed) and its state; a draft takes items from a file and
// opens, which starts the generation of its candidates in the background.
import { api, upload } from "../api.js";
import { clear, clearErrors, errorBox, h, replace, showError } from "../dom.js";
import { t } from "../i18n.js";
import { isAdmin } from "../session.js";

const KINDS = ["rank_rate", "correct_best", "write_gold", "blind_pairwise"];
const NEXT = { draft: ["open", "closed"], generating: ["open", "paused", "closed"], open: ["paused", "closed"], paused: ["open", "closed"] };

// PEOPLE_COLUMNS are the people file's header names: code, the same in every language,
// each with what it holds.
const PEOPLE_COLUMNS = ["login", "name", "base", "role"];

function peopleHint() {
  const col = (c) => [h("code", {}, c), t(`people.col.${c}`)];
  return [t("people.hint.columns"), PEOPLE_COLUMNS.map((c, i) => [i > 0 ? t("people.hint.sep") : null, col(c)]),
    t("people.hint.optional"), col("lead"), t("people.hint.passwords")];
}

export async function campaignsPage(slug) {
  const project = await api("GET", `/projects/${slug}`);
  const [{ campaigns }, { personas }, { models }, { bases: allBases }] = await Promise.all([
    api("GET", `/projects/${project.id}/campaigns`), api("GET", `/projects/${project.id}/personas`), api("GET", "/models"),
    api("GET", `/projects/${project.id}/bases`)]);
  let bases = allBases;
  const baseName = (id) => bases.find((b) => b.id === id)?.name ?? `#${id}`;
  const list = h("div", { id: "campaign-list" });
  for (const c of campaigns) list.append(await campaignCard(c, [], baseName));
  if (campaigns.length === 0) list.append(h("p", { class: "muted", id: "campaigns-none", i18n: "campaigns.none" }));

  // The set-up form: persona, name, kind, k, guidelines, and the candidate plan (published
  // versions of the persona, each optionally on another model).
  const persona = h("select", { id: "campaign-persona", dataset: { field: "persona_id" } }, personas.map((p) => h("option", { value: p.id }, p.name)));
  const name = h("input", { id: "campaign-name", dataset: { field: "name" } });
  const kind = h("select", { id: "campaign-kind", dataset: { field: "task_kind" } }, KINDS.map((k) => h("option", { value: k }, t(`work.kind.${k}`))));
  const k = h("input", { id: "campaign-k", type: "number", min: 1, max: 10, value: 3, dataset: { field: "k" } });
  const guidelines = h("textarea", { id: "campaign-guidelines", rows: 4, dataset: { field: "guidelines" } });
  const deadline = h("input", { id: "campaign-deadline", type: "datetime-local", dataset: { field: "deadline" } });
  const priority = h("input", { id: "campaign-priority", type: "number", value: 0, dataset: { field: "priority" } });
  const plan = h("div", { id: "campaign-plan", dataset: { field: "plan" } });
  const status = h("div");
  async function showPlan() {
    if (!persona.value) return;
    const { versions } = await api("GET", `/personas/${persona.value}`);
    replace(plan, versions.map((v) => {
      const box = h("input", { type: "checkbox", value: v.id, checked: true });
      const model = h("select", {}, h("option", { value: "" }, `${v.model} (v${v.version})`),
        models.filter((m) => m.available && m.name !== v.model).map((m) => h("option", { value: m.name }, m.name)));
      return h("label", { class: "check plan-entry" }, box, `v${v.version} `, model);
    }));
  }
  persona.addEventListener("change", showPlan);
  await showPlan();
  // The bases the campaign is given to, each with a quota: none, a number of judgments, or a
  // share (in per cent here, a fraction in the API) of all k × items judgments.
  const basePicks = h("div", { id: "campaign-bases", dataset: { field: "bases" } });
  function showBasePicks() {
    const admitted = bases.filter((b) => b.admitted);
    if (admitted.length === 0) {
      replace(basePicks, h("p", { class: "muted", i18n: "campaigns.noBases" }));
      return;
    }
    replace(basePicks, h("p", { class: "muted", i18n: "campaigns.basesHint" }), admitted.map((b) => {
      const box = h("input", { type: "checkbox", value: b.id });
      const kind = h("select", { dataset: { role: "quota-kind" } }, ["none", "items", "share"].map((q) => h("option", { value: q }, t(`campaigns.quota.${q}`))));
      // No min or max here: the server checks the quota and names what is wrong in the
      // reader's language, where the browser's own check would stop the form without a word.
      const amount = h("input", { type: "number", step: "any", dataset: { role: "quota-amount" }, hidden: true, "aria-label": t("campaigns.quota.amount") });
      kind.addEventListener("change", () => {
        amount.hidden = kind.value === "none";
        box.checked = true;
      });
      return h("div", { class: "row base-pick", dataset: { base: b.id } }, h("label", { class: "check" }, box, b.name), kind, amount);
    }));
  }
  showBasePicks();
  // pickedBases reads the ticked bases, and names each row by its place in the request, so a
  // refusal of bases[1].quota_share lands beside the second ticked base.
  function pickedBases() {
    const out = [];
    for (const row of basePicks.querySelectorAll(".base-pick")) {
      const [box, kind, amount] = [row.querySelector("input[type=checkbox]"), row.querySelector("select"), row.querySelector("[data-role=quota-amount]")];
      delete row.dataset.field;
      delete amount.dataset.field;
      if (!box.checked) continue;
      const i = out.length;
      row.dataset.field = `bases[${i}]`;
      const entry = { base_id: Number(box.value) };
      if (kind.value === "items") {
        entry.quota_items = Number(amount.value);
        amount.dataset.field = `bases[${i}].quota_items`;
      } else if (kind.value === "share") {
        entry.quota_share = Number(amount.value) / 100;
        amount.dataset.field = `bases[${i}].quota_share`;
      }
      out.push(entry);
    }
    return out;
  }
  // Live generation (issue 13): the items' candidates stream when first claimed, not ahead.
  const live = h("input", { type: "checkbox", id: "campaign-live", dataset: { field: "live" } });
  const form = h("form", { class: "inline-form", id: "new-campaign" }, h("h3", { i18n: "campaigns.new" }),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.persona" }), persona),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.name" }), name),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.kind" }), kind),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.k" }), k),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.plan" }), plan),
    h("label", { class: "check" }, live, h("span", { i18n: "campaigns.live" })),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.guidelines" }), guidelines),
    h("div", { class: "field" }, h("span", { i18n: "campaigns.bases" }), basePicks),
    h("div", { class: "row" }, h("label", { class: "field" }, h("span", { i18n: "campaigns.deadline" }), deadline),
      h("label", { class: "field" }, h("span", { i18n: "campaigns.priority" }), priority)),
    h("button", { type: "submit", id: "campaign-create", i18n: "common.create" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const entries = [...plan.querySelectorAll(".plan-entry")].filter((l) => l.querySelector("input").checked)
      .map((l) => ({ prompt_version_id: Number(l.querySelector("input").value), model: l.querySelector("select").value || undefined }));
    try {
      const res = await api("POST", `/projects/${project.id}/campaigns`, { persona_id: Number(persona.value), name: name.value,
        task_kind: kind.value, k: Number(k.value), guidelines: guidelines.value, plan: entries,
        deadline: deadline.value ? new Date(deadline.value).toISOString() : null, priority: Number(priority.value) || 0, bases: pickedBases(),
        live: live.checked });
      list.prepend(await campaignCard(res.campaign, res.warnings, baseName));
      list.querySelector("#campaigns-none")?.remove(); // not ".muted": the new card has muted lines of its own
      name.value = "";
      clearErrors(form);
      clear(status);
    } catch (err) {
      showError(form, err, status);
    }
  });
  // People: a CSV of login, name, base and role puts them in the project and their bases.
  const people = h("input", { type: "file", id: "people-file", accept: ".csv" });
  const peopleStatus = h("div", { id: "people-status" });
  people.addEventListener("change", async () => {
    if (!people.files[0]) return;
    try {
      const out = await upload(`/projects/${project.id}/people`, [people.files[0]]);
      replace(peopleStatus, h("p", {}, t("people.imported", { added: out.added.length, errors: out.errors.length })),
        h("ul", { class: "import-errors" }, out.errors.map((e) => h("li", {}, t("campaigns.lineError", { line: e.line, field: e.field, message: e.message })))),
        out.added.some((a) => a.password)
          ? h("table", { class: "table" }, h("tbody", {}, out.added.filter((a) => a.password).map((a) => h("tr", {}, h("td", {}, a.login), h("td", {}, h("code", {}, a.password))))))
          : null);
      await refreshBases(); // the import may have made bases and admitted them
    } catch (err) {
      replace(peopleStatus, errorBox(err));
    }
  });
  const peopleForm = h("section", { class: "card" }, h("h3", { i18n: "people.title" }), h("p", { class: "muted", id: "people-hint" }, peopleHint()), people, peopleStatus);
  const basesCard = h("section", { class: "card", id: "bases-card" });
  async function refreshBases() {
    ({ bases } = await api("GET", `/projects/${project.id}/bases`));
    renderBases();
    showBasePicks();
  }
  function renderBases() {
    const rows = bases.map((b) => h("tr", { dataset: { base: b.id, admitted: String(b.admitted) } },
      h("td", {}, b.name), h("td", {}, b.members), h("td", {}, b.leads),
      h("td", {}, b.admitted ? t("bases.admitted")
        : h("button", { type: "button", class: "secondary", dataset: { role: "admit" }, onclick: async () => {
          try {
            await api("PUT", `/projects/${project.id}/bases/${b.id}`);
            await refreshBases();
          } catch (err) {
            replace(baseStatus, errorBox(err));
          }
        } }, t("bases.admit")))));
    replace(basesCard, h("h3", { i18n: "bases.title" }),
      bases.length
        ? h("table", { class: "table", id: "bases-table" }, h("thead", {}, h("tr", {}, ["bases.name", "bases.members", "bases.leads", "bases.project"].map((k) => h("th", { i18n: k })))),
          h("tbody", {}, rows))
        : h("p", { class: "muted", i18n: "bases.none" }),
      isAdmin() ? newBase : null, baseStatus);
  }
  // Bases are the instance's: only an instance admin creates one; a project's admins admit.
  const baseNameInput = h("input", { id: "base-name", dataset: { field: "name" } });
  const baseStatus = h("div", { id: "base-status" });
  const newBase = h("form", { class: "row", id: "new-base" }, h("label", { class: "field" }, h("span", { i18n: "bases.new" }), baseNameInput),
    h("button", { type: "submit", id: "base-create", i18n: "common.create" }));
  newBase.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/bases", { name: baseNameInput.value });
      baseNameInput.value = "";
      clear(baseStatus);
      await refreshBases();
    } catch (err) {
      showError(newBase, err, baseStatus);
    }
  });
  renderBases();
  return h("div", { class: "page" }, h("h1", {}, t("campaigns.title", { project: project.name })), list, form, basesCard, peopleForm);
}

// quotaText says what a base's quota is and how much of it is used.
function quotaText(b, name) {
  if (b.quota_items != null) return t("campaigns.baseQuota", { base: name, used: b.used, quota: b.quota_items });
  if (b.quota_share != null) return t("campaigns.baseQuota", { base: name, used: b.used, quota: `${Math.round(b.quota_share * 1000) / 10}%` });
  return t("campaigns.baseNoQuota", { base: name, used: b.used });
}

async function campaignCard(c, warnings, baseName) {
  const card = h("section", { class: "card campaign-card", dataset: { campaign: c.id, state: c.state } });
  async function render() {
    const { campaign, progress } = await api("GET", `/campaigns/${c.id}`);
    card.dataset.state = campaign.state;
    const msg = h("div", { class: "campaign-status" }, warnings.map((w) => h("p", { class: "warning" }, w)));
    const file = h("input", { type: "file", accept: ".jsonl,.csv,.xlsx", dataset: { role: "items" } });
    file.addEventListener("change", async () => {
      if (!file.files[0]) return;
      let out;
      try {
        out = await upload(`/campaigns/${c.id}/items`, [file.files[0]]);
      } catch (err) {
        replace(msg, errorBox(err));
        return;
      }
      await render(); // a new card body: the report goes in its status box
      card.querySelector(".campaign-status").append(h("p", {}, t("campaigns.imported", { added: out.added, duplicates: out.duplicates.length, errors: out.errors.length })),
        h("ul", { class: "import-errors" }, out.errors.map((e) => h("li", {}, t("campaigns.lineError", { line: e.line, field: e.field, message: e.message })))));
    });
    const buttons = (NEXT[campaign.state] || []).map((s) => h("button", { type: "button", class: "secondary", dataset: { to: s },
      onclick: async () => {
        try {
          await api("PUT", `/campaigns/${c.id}/state`, { state: s });
          warnings = [];
          await render();
        } catch (err) {
          replace(msg, errorBox(err));
        }
      } }, t(`campaigns.to.${s}`)));
    const failedList = progress.failed > 0 || progress.generating > 0
      ? h("details", { class: "failed-items" }, h("summary", { i18n: "campaigns.failedItems" }),
        h("ul", {}, (await api("GET", `/campaigns/${c.id}/failed`)).items.map((f) => h("li", {}, h("strong", {}, f.external_id || `#${f.id}`), " ", f.question, h("br"),
          h("small", { class: "muted" }, f.error)))))
      : null;
    const regen = progress.failed > 0
      ? h("button", { type: "button", class: "secondary", dataset: { role: "regenerate" }, onclick: async () => {
        await api("POST", `/campaigns/${c.id}/regenerate`);
        await render();
      } }, t("campaigns.regenerate", { n: progress.failed }))
      : null;
    replace(card, h("h3", {}, campaign.name, " ", h("span", { class: "badge" }, t(`campaigns.state.${campaign.state}`))),
      h("p", { class: "muted" }, t(`work.kind.${campaign.task_kind}`), ` · k = ${campaign.k}`,
        campaign.live ? [" · ", h("span", { dataset: { role: "live" } }, t("campaigns.liveBadge"))] : null),
      h("p", { class: "progress" }, t("campaigns.progress", progress)),
      campaign.bases.length ? h("ul", { class: "campaign-bases" }, campaign.bases.map((b) => h("li", { dataset: { base: b.base_id } },
        quotaText(b, baseName(b.base_id))))) : null,
      campaign.state !== "closed" ? h("label", { class: "field" }, h("span", { i18n: "campaigns.items" }), file) : null,
      h("div", { class: "row" }, buttons, regen,
        h("a", { href: `#/campaigns/${c.id}/trainers`, dataset: { role: "quality" }, i18n: "campaigns.quality" }),
        // Switching rules (issue 14): the QC page, where a centre admin allows reduced
        // inspection and records the switching notes.
        h("a", { href: `#/campaigns/${c.id}/qc`, dataset: { role: "qc" }, i18n: "qc.link" })), failedList, msg);
  }
  await render();
  return card;
}
