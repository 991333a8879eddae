// webhooks: a project's webhook endpoints on its settings (project) page, for managers.
// The signing secret is shown once, in the answer to registering; a paused endpoint gets a
// banner at the top of the section, which is how its owner learns of it.
import { api } from "../api.js";
import { errorBox, field, formatTime, h, replace, showError } from "../dom.js";
import { t } from "../i18n.js";

export async function webhooksSection(project) {
  const { webhooks, events, emitted, pause_after: pauseAfter } = await api("GET", `/projects/${project.slug}/webhooks`);
  const status = h("div", { id: "webhooks-status" });
  const reload = () => window.dispatchEvent(new HashChangeEvent("hashchange"));
  const log = h("div", { id: "webhook-log" });

  const paused = webhooks.filter((w) => w.paused_at);
  const banners = paused.map((w) =>
    h("p", { class: "error", role: "alert", dataset: { webhook: w.id } },
      t("webhooks.pausedBanner", { url: w.url, n: pauseAfter, at: formatTime(w.paused_at) }), " ",
      h("button", { type: "button", class: "resume", i18n: "webhooks.resume", onclick: async () => {
        try {
          await api("POST", `/projects/${project.slug}/webhooks/${w.id}/resume`);
          reload();
        } catch (err) {
          replace(status, errorBox(err));
        }
      } })));

  const rows = webhooks.map((w) =>
    h("tr", { dataset: { webhook: w.id } },
      h("td", {}, h("code", {}, w.url), w.description ? h("div", { class: "muted" }, w.description) : null),
      h("td", {}, w.events.map((e) => t(`webhooks.event.${e}`)).join("、")),
      h("td", {}, w.paused_at ? h("span", { class: "error" }, t("webhooks.paused")) : t("webhooks.active"),
        w.failures > 0 ? h("div", { class: "muted" }, t("webhooks.failures", { n: w.failures })) : null),
      h("td", {},
        h("button", { type: "button", class: "link show-log", i18n: "webhooks.log", onclick: () => showLog(project, w, log) }), " ",
        h("button", { type: "button", class: "link", i18n: "common.remove", onclick: async () => {
          try {
            await api("DELETE", `/projects/${project.slug}/webhooks/${w.id}`);
            reload();
          } catch (err) {
            replace(status, errorBox(err));
          }
        } }))));
  const table = webhooks.length
    ? h("table", { class: "table", id: "webhook-list" },
      h("thead", {}, h("tr", {}, ["webhooks.url", "webhooks.events", "webhooks.state", ""].map((k) => (k ? h("th", { i18n: k }) : h("th"))))),
      h("tbody", {}, rows))
    : h("p", { class: "muted", id: "webhooks-none", i18n: "webhooks.none" });

  const url = h("input", { name: "url", id: "webhook-url", type: "url", placeholder: "https://", maxlength: 2000 });
  const description = h("input", { name: "description", maxlength: 200 });
  const boxes = events.map((e) => h("input", { type: "checkbox", value: e, checked: emitted.includes(e) }));
  // Campaign and batch events can be subscribed to already; they are marked as not sent yet.
  const eventField = h("fieldset", { class: "checks", dataset: { field: "events" } }, h("legend", { i18n: "webhooks.events" }),
    events.map((e, i) => h("label", { class: "check" }, boxes[i], h("span", {}, t(`webhooks.event.${e}`)),
      emitted.includes(e) ? null : h("small", { class: "muted", i18n: "webhooks.notYet" }))));
  const secret = h("div", { id: "webhook-secret" });
  const form = h("form", { class: "inline-form", id: "new-webhook" },
    h("h3", { i18n: "webhooks.new" }), field("webhooks.url", url, "webhooks.urlHint"), eventField,
    field("webhooks.description", description), h("button", { type: "submit", i18n: "common.create" }), status, secret);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const created = await api("POST", `/projects/${project.slug}/webhooks`, {
        url: url.value.trim(), description: description.value, events: boxes.filter((b) => b.checked).map((b) => b.value),
      });
      // Shown once: the list never carries it again.
      replace(secret, h("div", { class: "card secret" }, h("p", { i18n: "webhooks.secretOnce" }),
        h("code", { class: "secret-value" }, created.secret), " ",
        h("button", { type: "button", i18n: "webhooks.done", onclick: reload })));
      form.querySelector("button[type=submit]").disabled = true;
    } catch (err) {
      showError(form, err, status);
    }
  });

  return h("section", { class: "card", id: "webhooks" }, h("h2", { i18n: "webhooks.title" }),
    h("p", { class: "muted", i18n: "webhooks.help" }), banners, table, log, form);
}

// showLog shows an endpoint's latest deliveries with each attempt's status code.
async function showLog(project, w, into) {
  try {
    const { deliveries } = await api("GET", `/projects/${project.slug}/webhooks/${w.id}/deliveries`);
    const attempt = (a) => h("span", { class: a.error ? "error" : "ok", title: a.error || "" },
      a.status_code ? String(a.status_code) : t("webhooks.noResponse"));
    replace(into, h("h3", {}, t("webhooks.logOf", { url: w.url })),
      deliveries.length === 0 ? h("p", { class: "muted", i18n: "webhooks.noDeliveries" }) :
        h("table", { class: "table", id: "delivery-log" },
          h("thead", {}, h("tr", {}, ["webhooks.at", "webhooks.event", "webhooks.state", "webhooks.attempts"].map((k) => h("th", { i18n: k })))),
          h("tbody", {}, deliveries.map((d) => h("tr", { dataset: { delivery: d.id, status: d.status } },
            h("td", {}, formatTime(d.created_at)), h("td", {}, t(`webhooks.event.${d.event}`)),
            h("td", {}, t(`webhooks.status.${d.status}`)),
            h("td", { class: "attempts" }, d.attempts.flatMap((a, i) => (i ? [" · ", attempt(a)] : [attempt(a)]))))))));
  } catch (err) {
    replace(into, errorBox(err));
  }
}
