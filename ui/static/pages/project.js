import { api } from "../api.js";
import { errorBox, field, formatNumber, h, replace, showError, term } from "../dom.js";
import { locale, t } from "../i18n.js";
import { can } from "../session.js";
import { auditTable } from "./admin.js";
import { webhooksSection } from "./webhooks.js";

export function personaName(p) {
  return locale() === "en" && p.name_en ? p.name_en : p.name;
}

export function personaDescription(p) {
  return locale() === "en" && p.description_en ? p.description_en : p.description;
}

export function avatar(p) {
  return h("span", { class: "avatar", style: { background: /^#[0-9a-fA-F]{6}$/.test(p.avatar_color) ? p.avatar_color : "#888" } },
    p.avatar_initials);
}

// projectPage shows a project's personas and corpora, and creates personas.
export async function projectPage(slug) {
  const [{ project, personas }, { corpora }] = await Promise.all([
    api("GET", `/projects/${slug}/personas`),
    api("GET", `/projects/${slug}/corpora`),
  ]);
  const cards = h("ul", { class: "cards", id: "persona-list" },
    personas.map((p) =>
      h("li", { class: "card persona-card", dataset: { slug: p.slug } },
        h("div", { class: "card-head" }, avatar(p),
          h("a", { href: `#/personas/${p.id}`, class: "card-title" }, personaName(p))),
        h("span", { class: "badge" }, t(`kind.${p.kind}`)),
        h("p", { class: "muted" }, personaDescription(p)),
        can(p.project_id, "judge") ? h("a", { href: `#/train/${p.id}`, class: "train-link", i18n: "train.open" }) : null)));
  if (personas.length === 0) cards.append(h("li", { class: "muted", i18n: "personas.none" }));

  const name = h("input", { name: "name", maxlength: 80 });
  const nameEN = h("input", { name: "name_en", maxlength: 80 });
  const kind = h("select", { name: "kind" },
    h("option", { value: "domain_assistant" }, t("kind.domain_assistant")),
    h("option", { value: "digital_human" }, t("kind.digital_human")));
  const personaLocale = h("select", { name: "locale" }, h("option", { value: "zh-CN" }, "中文"), h("option", { value: "en" }, "English"));
  const color = h("input", { name: "avatar_color", type: "color", value: "#2f6fde" });
  const description = h("textarea", { name: "description", rows: 2 });
  const status = h("div");
  const form = h("form", { class: "inline-form", id: "new-persona" },
    h("h3", { i18n: "personas.new" }),
    field("personas.name", name), field("personas.nameEN", nameEN), field("personas.kind", kind),
    field("personas.locale", personaLocale), field("personas.color", color), field("personas.description", description),
    h("button", { type: "submit", i18n: "common.create" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const p = await api("POST", `/projects/${slug}/personas`, {
        name: name.value, name_en: nameEN.value, kind: kind.value, locale: personaLocale.value,
        avatar_color: color.value, description: description.value,
      });
      location.hash = `#/personas/${p.id}`;
    } catch (err) {
      showError(form, err, status);
    }
  });

  const corpusList = h("ul", { class: "plain", id: "corpus-list" },
    corpora.map((c) => h("li", {}, h("a", { href: `#/corpora/${c.id}`, class: "corpus-link" }, c.name), " · ",
      t("corpora.documents", { n: formatNumber(c.document_count) }), " · ", h("span", { class: "fields", title: c.embedder }, term("embedder", c.embedder)),
      c.embedding_error ? h("span", { class: "error" }, " · ", c.embedding_error) : null)));
  if (corpora.length === 0) corpusList.append(h("li", { class: "muted", i18n: "corpora.none" }));

  const manage = can(project.id, "project.manage");
  return h("div", { class: "page" },
    h("nav", { class: "crumbs" }, h("a", { href: "#/", i18n: "projects.title" }), " / ", project.name),
    h("h1", {}, project.name),
    h("p", { class: "muted", "data-content": true }, project.description),
    h("p", { class: "muted" }, t(project.blind_ranking ? "projects.blind" : "projects.notBlind")),
    can(project.id, "export") ? h("p", {}, h("a", { href: `#/projects/${project.slug}/export`, id: "export-link", i18n: "export.open" })) : null,
    // Campaigns: the set-up page, for those who manage the project.
    can(project.id, "project.manage") ? h("p", {}, h("a", { href: `#/projects/${project.slug}/campaigns`, id: "campaigns-link", i18n: "campaigns.open" })) : null,
    // Leaderboards (issue 15): everyone who can see the project can read its board.
    h("p", {}, h("a", { href: `#/projects/${project.slug}/leaderboard`, id: "leaderboard-link", i18n: "board.open" })),
    h("h2", { i18n: "personas.title" }), cards,
    h("h2", { i18n: "corpora.title" }), corpusList,
    can(project.id, "knowledge.write") ? corpusForm(project) : null,
    can(project.id, "prompt.write") ? form : null,
    manage ? projectForm(project) : null,
    manage ? await membersSection(project) : null,
    manage ? await webhooksSection(project) : null, // issue 16
    manage ? h("section", { class: "card" }, h("h2", { i18n: "audit.title" }),
      auditTable((await api("GET", `/projects/${project.slug}/audit`)).events)) : null);
}

const ROLES = ["admin", "reviewer", "expert", "trainer", "viewer"];

async function membersSection(project) {
  const { members } = await api("GET", `/projects/${project.slug}/members`);
  const status = h("div", { id: "members-status" });
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const setRole = async (login, role) => {
    try {
      await api("PUT", `/projects/${project.slug}/members/${encodeURIComponent(login)}`, { role });
      reload();
    } catch (err) {
      showError(section, err, status);
    }
  };
  const roleSelect = (value, onChange) => {
    const sel = h("select", {}, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
    sel.value = value;
    if (onChange) sel.addEventListener("change", () => onChange(sel.value));
    return sel;
  };
  const rows = members.map((m) =>
    h("tr", { dataset: { login: m.login } }, h("td", {}, h("code", {}, m.login)), h("td", {}, m.display_name),
      h("td", {}, roleSelect(m.role, (r) => setRole(m.login, r))),
      h("td", {}, h("button", { type: "button", class: "link", i18n: "common.remove", onclick: async () => {
        try {
          await api("DELETE", `/projects/${project.slug}/members/${encodeURIComponent(m.login)}`);
          reload();
        } catch (err) {
          replace(status, errorBox(err));
        }
      } }))));
  const login = h("input", { id: "member-login", dataset: { field: "user" } });
  const role = roleSelect("trainer");
  role.dataset.field = "role";
  const form = h("form", { class: "row", id: "add-member" }, field("session.login", login), field("users.role", role),
    h("button", { type: "submit", i18n: "members.add" }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    setRole(login.value.trim(), role.value);
  });
  const section = h("section", { class: "card", id: "members" }, h("h2", { i18n: "members.title" }),
    h("table", { class: "table" }, h("thead", {}, h("tr", {}, ["session.login", "users.name", "users.role", ""].map((k) => (k ? h("th", { i18n: k }) : h("th"))))),
      h("tbody", {}, rows)), form, status);
  return section;
}

function projectForm(project) {
  const name = h("input", { name: "name", value: project.name, maxlength: 120 });
  const description = h("textarea", { name: "description", rows: 2, value: project.description });
  const blind = h("input", { type: "checkbox", name: "blind_ranking", checked: project.blind_ranking });
  const status = h("div");
  const form = h("form", { class: "inline-form", id: "edit-project" },
    h("h3", { i18n: "projects.edit" }), field("projects.name", name), field("projects.description", description),
    h("label", { class: "check" }, blind, h("span", { i18n: "projects.blindLabel" })),
    h("button", { type: "submit", i18n: "common.save" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PUT", `/projects/${project.slug}`, { name: name.value, description: description.value, blind_ranking: blind.checked });
      window.dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (err) {
      showError(form, err, status);
    }
  });
  return form;
}

function corpusForm(project) {
  const name = h("input", { name: "name", maxlength: 120, id: "corpus-name" });
  const slug = h("input", { name: "slug", maxlength: 63, id: "corpus-slug", placeholder: "customs-kb", translate: "no" });
  const status = h("div");
  const form = h("form", { class: "inline-form", id: "new-corpus" },
    h("h3", { i18n: "corpora.new" }), field("corpora.name", name), field("corpora.slug", slug),
    h("small", { class: "muted", i18n: "corpora.embedderHint" }),
    h("button", { type: "submit", i18n: "common.create" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const c = await api("POST", `/projects/${project.slug}/corpora`, { name: name.value, slug: slug.value });
      location.hash = `#/corpora/${c.id}`;
    } catch (err) {
      showError(form, err, status);
    }
  });
  return form;
}
