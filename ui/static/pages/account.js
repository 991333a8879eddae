import { api } from "../api.js";
import { field, formatTime, h, replace, showError, term } from "../dom.js";
import { t } from "../i18n.js";
import { session } from "../session.js";

// accountPage: the signed-in user's API tokens and password.
export async function accountPage() {
  const { tokens } = await api("GET", "/tokens");
  const u = session().user;
  return h("div", { class: "page" },
    h("h1", {}, u.display_name),
    h("p", { class: "muted" }, `${t("session.login")}: ${u.login}`),
    tokenSection(tokens), passwordForm());
}

function tokenSection(tokens) {
  const rows = tokens.map((tk) =>
    h("tr", { dataset: { token: tk.id } },
      h("td", {}, tk.name), h("td", {}, h("code", {}, `${tk.prefix}…`)), h("td", {}, tk.scopes.map((s) => term("scope", s)).join("、")),
      h("td", {}, formatTime(tk.created_at)), h("td", {}, tk.last_used_at ? formatTime(tk.last_used_at) : "–"),
      h("td", {}, tk.revoked_at ? t("tokens.revoked")
        : h("button", { type: "button", class: "link revoke", i18n: "tokens.revoke", onclick: async () => {
          await api("DELETE", `/tokens/${tk.id}`);
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } }))));
  const name = h("input", { id: "token-name", name: "name", maxlength: 100 });
  const boxes = ["read", "export", "write"].map((s) => {
    const box = h("input", { type: "checkbox", value: s, checked: s === "read" });
    return { box, label: h("label", { class: "check", title: t(`scope.${s}.help`) }, box, term("scope", s)) };
  });
  const password = h("input", { id: "token-password", name: "password", type: "password", autocomplete: "current-password" });
  const out = h("div", { id: "token-result" });
  const form = h("form", { class: "row", id: "new-token" }, field("tokens.name", name),
    h("fieldset", { dataset: { field: "scopes" } }, h("legend", { i18n: "tokens.scopes" }), boxes.map((b) => b.label)),
    field("password.current", password),
    h("button", { type: "submit", i18n: "tokens.create" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/tokens", {
        name: name.value, scopes: boxes.filter((b) => b.box.checked).map((b) => b.box.value), password: password.value,
      });
      password.value = "";
      replace(out, h("p", { class: "notice" }, t("tokens.shownOnce"), " ", h("code", { id: "token-secret" }, r.secret)));
    } catch (err) {
      showError(form, err, out);
    }
  });
  return h("section", { class: "card", id: "tokens" }, h("h2", { i18n: "tokens.title" }), h("p", { class: "muted", i18n: "tokens.help" }),
    h("p", {}, h("a", { href: "#/api", i18n: "tokens.apiLink" })),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["tokens.name", "tokens.prefix", "tokens.scopes", "tokens.created", "tokens.lastUsed", ""]
        .map((k) => (k ? h("th", { i18n: k }) : h("th"))))),
      h("tbody", {}, rows)),
    form, out);
}

function passwordForm() {
  const current = h("input", { type: "password", id: "password-current", name: "current_password", autocomplete: "current-password" });
  const next = h("input", { type: "password", id: "password-new", name: "new_password", autocomplete: "new-password" });
  const status = h("div");
  const form = h("form", { class: "card", id: "change-password" }, h("h2", { i18n: "password.title" }),
    h("p", { class: "muted", i18n: "password.help" }),
    h("div", { class: "row" }, field("password.current", current), field("password.new", next)),
    h("button", { type: "submit", i18n: "common.save" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PUT", "/session/password", { current_password: current.value, new_password: next.value });
      location.reload(); // every session has ended, this one included
    } catch (err) {
      showError(form, err, status);
    }
  });
  return form;
}
