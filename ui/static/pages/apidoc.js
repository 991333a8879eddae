import { api } from "../api.js";
import { h } from "../dom.js";
import { locale, t } from "../i18n.js";

// apiDocPage renders the OpenAPI document the server generates from its route table
// (GET /api/v1/openapi.json): each operation with its parameters, body, answers and errors,
// and the schemas they refer to. It is our own small renderer, embedded like the rest of
// the interface: a vendored API explorer would be larger than the whole UI and show English.
// Summaries are translated by operation id (api.op.<id> in the catalogs); names, paths and
// types are code and stay as they are.
export async function apiDocPage() {
  const doc = await api("GET", "/openapi.json");
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = op.tags?.[0] ?? "";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const order = (doc.tags || []).map((tg) => tg.name);
  const sections = order.filter((tag) => byTag.has(tag)).map((tag) =>
    h("section", { class: "api-tag", id: `api-tag-${tag}` },
      h("h2", {}, t(`api.tag.${tag}`)),
      byTag.get(tag).map(operation)));
  const schemas = Object.entries(doc.components?.schemas || {}).sort(([a], [b]) => a.localeCompare(b));
  return h("div", { class: "page api-doc" },
    h("h1", { i18n: "api.title" }),
    h("p", { class: "muted" }, t("api.intro", { version: doc.openapi })),
    h("p", {}, h("a", { href: "/api/v1/openapi.json", download: "openapi.json", id: "api-download", i18n: "api.download" })),
    h("p", { class: "muted", i18n: "api.auth" }),
    h("nav", { class: "api-toc" }, order.filter((tag) => byTag.has(tag)).map((tag) =>
      h("a", { href: `#/api`, dataset: { target: `api-tag-${tag}` }, onclick: jump }, t(`api.tag.${tag}`)))),
    sections,
    h("section", { class: "api-schemas" },
      h("h2", { i18n: "api.schemas" }),
      schemas.map(([name, s]) => h("div", { class: "api-schema", id: `api-schema-${name}` },
        h("h3", {}, h("code", {}, name)), schemaView(s)))));
}

// jump scrolls to a section without changing the hash, which is the router's.
function jump(ev) {
  ev.preventDefault();
  document.getElementById(ev.currentTarget.dataset.target)?.scrollIntoView();
}

function summary(op) {
  const key = `api.op.${op.operationId}`;
  const tr = t(key);
  return tr === key ? op.summary : tr;
}

function operation({ path, method, op }) {
  const params = op.parameters || [];
  const body = op.requestBody?.content || {};
  const perm = op["x-mentor-permission"];
  return h("details", { class: "api-op", dataset: { op: op.operationId } },
    h("summary", {},
      h("code", { class: `api-method api-${method}` }, method.toUpperCase()), " ",
      h("code", { class: "api-path" }, path), " ",
      h("span", { class: "api-summary" }, summary(op))),
    h("p", { class: "muted api-needs" }, op.security && op.security.length === 0 ? t("api.public")
      : t("api.needs", { permission: perm ? t(`api.perm.${perm}`) : "" })),
    locale() === "en" && op.description ? h("p", { class: "api-description" }, op.description.replace(/\n\nNeeds the permission.*$/s, "")) : null,
    params.length ? h("table", { class: "table api-params" },
      h("thead", {}, h("tr", {}, ["api.param", "api.in", "api.type", "api.required"].map((k) => h("th", { i18n: k })))),
      h("tbody", {}, params.map((p) => h("tr", {},
        h("td", {}, h("code", {}, p.name), locale() === "en" && p.description ? h("small", {}, ` ${p.description}`) : null),
        h("td", {}, t(`api.in.${p.in}`)), h("td", {}, typeOf(p.schema)), h("td", {}, p.required ? t("api.yes") : t("api.no")))))) : null,
    Object.entries(body).map(([ct, m]) => h("div", { class: "api-body" },
      h("h4", {}, t("api.requestBody"), " ", h("code", {}, ct)), schemaView(m.schema))),
    h("h4", { i18n: "api.responses" }),
    h("ul", { class: "api-responses" }, Object.entries(op.responses).map(([status, r]) =>
      h("li", { dataset: { status } },
        h("code", {}, status), " ",
        r["x-mentor-codes"]
          ? [t("api.errorCodes"), " ", r["x-mentor-codes"].map((c, i) => [i ? "、" : "", h("code", {}, c), `（${t(`api.code.${c}`)}）`])]
          : t(`api.status.${status}`),
        Object.entries(r.content || {}).map(([ct, m]) => r["x-mentor-codes"] ? null
          : h("div", {}, h("code", {}, ct), " ", typeOf(m.schema)))))));
}

// typeOf is a schema in one line: a link to a named schema, a type, or an array of one.
function typeOf(s) {
  if (!s || Object.keys(s).length === 0) return h("code", {}, "any");
  if (s.$ref) {
    const name = s.$ref.replace("#/components/schemas/", "");
    return h("a", { href: "#/api", dataset: { target: `api-schema-${name}` }, onclick: jump }, h("code", {}, name));
  }
  if (s.anyOf) return [typeOf(s.anyOf[0]), h("code", {}, " | null")];
  const types = [s.type].flat();
  const main = types.find((x) => x !== "null");
  const nullable = types.includes("null") ? h("code", {}, " | null") : null;
  if (main === "array") return [h("code", {}, "["), typeOf(s.items), h("code", {}, "]"), nullable];
  if (main === "object" && s.additionalProperties && !s.properties) {
    return [h("code", {}, "{string: "), typeOf(s.additionalProperties), h("code", {}, "}"), nullable];
  }
  const enumText = s.enum ? ` (${s.enum.filter((v) => v !== null).join(" | ")})` : "";
  return [h("code", {}, `${main}${s.format ? `<${s.format}>` : ""}${enumText}`), nullable];
}

// schemaView lists an object's fields with their types; other schemas are one line.
function schemaView(s) {
  if (!s || !s.properties) return h("p", {}, typeOf(s));
  const required = new Set(s.required || []);
  return h("table", { class: "table api-fields" },
    h("thead", {}, h("tr", {}, ["api.field", "api.type", "api.required"].map((k) => h("th", { i18n: k })))),
    h("tbody", {}, Object.entries(s.properties).map(([name, p]) => h("tr", {},
      h("td", {}, h("code", {}, name)), h("td", {}, typeOf(p)), h("td", {}, required.has(name) ? t("api.yes") : t("api.no"))))));
}
