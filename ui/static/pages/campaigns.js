// campaigns: a project's campaign set-up, for its admins. Each campaign shows its progress
// (ready, generating, failed, completed) and its state; a draft takes items from a file and
// opens, which starts the generation of its candidates in the background.
import { api, upload } from "../api.js";
import { clear, errorBox, h, replace, showError } from "../dom.js";
import { t } from "../i18n.js";

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
  const [{ campaigns }, { personas }, { models }] = await Promise.all([
    api("GET", `/projects/${project.id}/campaigns`), api("GET", `/projects/${project.id}/personas`), api("GET", "/models")]);
  const list = h("div", { id: "campaign-list" });
  for (const c of campaigns) list.append(await campaignCard(c));
  if (campaigns.length === 0) list.append(h("p", { class: "muted", i18n: "campaigns.none" }));

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
  const form = h("form", { class: "inline-form", id: "new-campaign" }, h("h3", { i18n: "campaigns.new" }),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.persona" }), persona),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.name" }), name),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.kind" }), kind),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.k" }), k),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.plan" }), plan),
    h("label", { class: "field" }, h("span", { i18n: "campaigns.guidelines" }), guidelines),
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
        deadline: deadline.value ? new Date(deadline.value).toISOString() : null, priority: Number(priority.value) || 0 });
      list.prepend(await campaignCard(res.campaign, res.warnings));
      list.querySelector(".muted")?.remove();
      name.value = "";
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
    } catch (err) {
      replace(peopleStatus, errorBox(err));
    }
  });
  const peopleForm = h("section", { class: "card" }, h("h3", { i18n: "people.title" }), h("p", { class: "muted", id: "people-hint" }, peopleHint()), people, peopleStatus);
  return h("div", { class: "page" }, h("h1", {}, t("campaigns.title", { project: project.name })), list, form, peopleForm);
}

async function campaignCard(c, warnings = []) {
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
      h("p", { class: "muted" }, t(`work.kind.${campaign.task_kind}`), ` · k = ${campaign.k}`),
      h("p", { class: "progress" }, t("campaigns.progress", progress)),
      campaign.state !== "closed" ? h("label", { class: "field" }, h("span", { i18n: "campaigns.items" }), file) : null,
      h("div", { class: "row" }, buttons, regen,
        h("a", { href: `#/campaigns/${c.id}/trainers`, dataset: { role: "quality" }, i18n: "campaigns.quality" })), failedList, msg);
  }
  await render();
  return card;
}
