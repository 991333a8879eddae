import { api } from "../api.js";
import { formatNumber, h, term } from "../dom.js";
import { t } from "../i18n.js";

// modelsPage lists the configured models, then fills in each one's health from a probe.
export async function modelsPage() {
  const { models } = await api("GET", "/models");
  const cells = new Map();
  const rows = models.map((m) => {
    const health = h("td", { class: "health", dataset: { state: m.available ? "pending" : "bad" } },
      m.available ? t("status.checking") : `${t("models.unavailable")}: ${m.reason}`);
    cells.set(m.name, health);
    return h("tr", { dataset: { model: m.name } },
      h("td", {}, h("code", {}, m.name), m.baseline ? h("span", { class: "badge baseline" }, t("models.baseline")) : null),
      h("td", {}, term("endpoint", m.endpoint)), h("td", {}, m.remote_name ? h("code", {}, m.remote_name) : "–"),
      h("td", { class: "num" }, formatNumber(m.max_concurrent)),
      h("td", { class: "num" }, m.requests_per_minute ? formatNumber(m.requests_per_minute) : "–"), health);
  });
  api("GET", "/models/health").then(({ health }) => {
    for (const hl of health) {
      const cell = cells.get(hl.model);
      if (!cell) continue;
      cell.dataset.state = hl.available ? "ok" : "bad";
      cell.textContent = hl.available
        ? `${t("status.ok")}${hl.latency_ns ? ` · ${formatNumber(hl.latency_ns / 1e6)} ms` : ""}`
        : `${t("models.unavailable")}: ${hl.reason}`;
    }
  }, (err) => console.warn(err));
  return h("div", { class: "page" },
    h("h1", { i18n: "models.title" }),
    h("p", { class: "muted", i18n: "models.intro" }),
    h("table", { class: "table", id: "models-table" },
      h("thead", {}, h("tr", {}, ["models.name", "models.endpoint", "models.remote", "models.concurrent", "models.rpm", "models.health"]
        .map((k) => h("th", { i18n: k })))),
      h("tbody", {}, rows)));
}
