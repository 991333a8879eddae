import { api } from "../api.js";
import { h, replace, showError } from "../dom.js";
import { t } from "../i18n.js";

// homePage lists projects, offers a new one, and shows whether the server is healthy.
export async function homePage() {
  const { projects } = await api("GET", "/projects");
  const list = h("ul", { class: "cards", id: "project-list" },
    projects.map((p) =>
      h("li", { class: "card" },
        h("a", { href: `#/projects/${p.slug}`, class: "card-title" }, p.name),
        h("p", { class: "muted", "data-content": true }, p.description || ""))));
  if (projects.length === 0) list.append(h("li", { class: "muted", i18n: "projects.none" }));

  const name = h("input", { name: "name", required: true, maxlength: 120 });
  const slug = h("input", { name: "slug", pattern: "[a-z0-9][a-z0-9-]*", placeholder: "my-project", translate: "no" });
  const status = h("div");
  const form = h("form", { class: "inline-form", id: "new-project" },
    h("h3", { i18n: "projects.new" }),
    h("label", { class: "field" }, h("span", { i18n: "projects.name" }), name),
    h("label", { class: "field" }, h("span", { i18n: "projects.slug" }), slug),
    h("button", { type: "submit", i18n: "common.create" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const p = await api("POST", "/projects", { name: name.value, slug: slug.value });
      location.hash = `#/projects/${p.slug}`;
    } catch (err) {
      showError(form, err, status);
    }
  });

  return h("div", { class: "page" },
    h("h1", { i18n: "projects.title" }),
    h("p", { class: "muted", i18n: "home.intro" }),
    list, form, await statusCard());
}

async function statusCard() {
  const dd = (id) => h("dd", { id });
  const server = dd("status-server"), database = dd("status-database"), version = dd("status-version");
  const mark = (el, ok, key) => {
    el.dataset.state = ok ? "ok" : "bad";
    el.textContent = t(key);
  };
  try {
    const health = await fetch("/healthz");
    mark(server, health.ok, health.ok ? "status.ok" : "status.down");
    const ready = await fetch("/readyz");
    const body = await ready.json();
    mark(database, ready.ok, ready.ok ? "status.ok" : "status.notReady");
    if (!ready.ok && body.problems) database.title = body.problems.join("\n");
    const v = await api("GET", "/version");
    replace(version, h("code", {}, v.version), " · ", t("status.schemaVersion", { schema: v.schema_version }));
  } catch {
    mark(server, false, "status.down");
  }
  return h("section", { class: "card status-card" },
    h("h3", { i18n: "status.title" }),
    h("dl", { class: "status" },
      h("dt", { i18n: "status.server" }), server,
      h("dt", { i18n: "status.database" }), database,
      h("dt", { i18n: "status.version" }), version,
      h("dt", { i18n: "status.api" }), h("dd", {}, h("a", { href: "#/api", id: "api-link", i18n: "nav.api" }))));
}
