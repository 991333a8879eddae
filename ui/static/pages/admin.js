import { api } from "../api.js";
import { field, formatTime, h, showError, term } from "../dom.js";
import { t } from "../i18n.js";

const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));

// usersPage: instance administrators create, disable and reset accounts.
export async function usersPage() {
  const { users } = await api("GET", "/users");
  const status = h("div", { id: "users-status" });
  const act = (fn) => async () => {
    try {
      await fn();
      reload();
    } catch (err) {
      showError(page, err, status);
    }
  };
  const rows = users.map((u) =>
    h("tr", { dataset: { login: u.login } },
      h("td", {}, h("code", {}, u.login)), h("td", {}, u.display_name), h("td", {}, u.is_admin ? t("users.admin") : ""),
      h("td", { class: "state" }, u.disabled_at ? t("users.disabled") : t("users.active")),
      h("td", {},
        h("button", { type: "button", class: "link toggle", i18n: u.disabled_at ? "users.enable" : "users.disable",
          onclick: act(() => api("PUT", `/users/${u.id}/disabled`, { disabled: !u.disabled_at })) }),
        " · ",
        h("button", { type: "button", class: "link reset", i18n: "users.reset", onclick: act(async () => {
          const password = prompt(t("users.newPassword"));
          if (password) await api("PUT", `/users/${u.id}/password`, { password });
        }) }))));
  const login = h("input", { id: "user-login", name: "login" });
  const name = h("input", { id: "user-name", name: "display_name" });
  const password = h("input", { id: "user-password", name: "password", type: "password", autocomplete: "new-password" });
  const admin = h("input", { id: "user-admin", type: "checkbox" });
  const form = h("form", { class: "inline-form", id: "new-user" }, h("h3", { i18n: "users.new" }),
    h("div", { class: "row" }, field("session.login", login), field("users.name", name), field("session.password", password),
      h("label", { class: "check" }, admin, h("span", { i18n: "users.admin" }))),
    h("button", { type: "submit", i18n: "common.create" }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    act(() => api("POST", "/users", { login: login.value, display_name: name.value, password: password.value, is_admin: admin.checked }))();
  });
  const page = h("div", { class: "page" }, h("h1", { i18n: "users.title" }),
    h("table", { class: "table", id: "users-table" },
      h("thead", {}, h("tr", {}, ["session.login", "users.name", "users.role", "users.state", ""].map((k) => (k ? h("th", { i18n: k }) : h("th"))))),
      h("tbody", {}, rows)),
    status, form);
  return page;
}

// auditTable renders audit events; the project page reuses it for one project's events.
export function auditTable(events) {
  return h("table", { class: "table", id: "audit-table" },
    h("thead", {}, h("tr", {}, ["audit.at", "audit.actor", "audit.action", "audit.target", "audit.ip"].map((k) => h("th", { i18n: k })))),
    h("tbody", {}, events.map((e) =>
      h("tr", { dataset: { action: e.action } }, h("td", {}, formatTime(e.at)), h("td", {}, e.actor || "–"),
        h("td", { title: e.action }, term("auditAction", e.action)), h("td", { translate: "no" }, e.target), h("td", {}, e.ip)))));
}

export async function auditPage() {
  const { events } = await api("GET", "/audit");
  return h("div", { class: "page" }, h("h1", { i18n: "audit.title" }), h("p", { class: "muted", i18n: "audit.help" }), auditTable(events));
}
