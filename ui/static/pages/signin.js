import { field, h, showError } from "../dom.js";
import { signIn } from "../session.js";

// signInPage asks for a login and password. Wrong credentials and throttling come back from
// the server with their own messages.
export function signInPage(onSignedIn) {
  const login = h("input", { id: "signin-login", name: "login", autocomplete: "username", required: true });
  const password = h("input", { id: "signin-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { id: "signin-status" });
  const form = h("form", { class: "inline-form signin", id: "signin-form" },
    h("h1", { i18n: "session.title" }),
    field("session.login", login), field("session.password", password),
    h("button", { type: "submit", id: "signin-submit", i18n: "session.signIn" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await signIn(login.value, password.value);
      onSignedIn();
    } catch (err) {
      showError(form, err, status);
      password.value = "";
    }
  });
  return h("div", { class: "page narrow" }, form);
}
