import { preferredLocale, setLocale, t } from "./i18n.js";

async function showStatus() {
  const server = document.getElementById("status-server");
  const database = document.getElementById("status-database");
  const version = document.getElementById("status-version");
  const mark = (el, state, key) => {
    el.dataset.state = state;
    el.dataset.i18n = key;
    el.textContent = t(key);
  };
  try {
    const health = await fetch("/healthz");
    mark(server, health.ok ? "ok" : "bad", health.ok ? "status.ok" : "status.down");
    const ready = await fetch("/readyz");
    const body = await ready.json();
    mark(database, ready.ok ? "ok" : "bad", ready.ok ? "status.ok" : "status.notReady");
    if (!ready.ok && body.problems) database.title = body.problems.join("\n");
    const v = await (await fetch("/api/v1/version")).json();
    version.textContent = `${v.version} · schema ${v.schema_version}`;
  } catch (err) {
    mark(server, "bad", "status.down");
    console.error(err);
  }
}

async function main() {
  const select = document.getElementById("locale-select");
  const initial = preferredLocale();
  select.value = initial;
  await setLocale(initial);
  select.addEventListener("change", () => setLocale(select.value));
  await showStatus();
  document.body.dataset.ready = "true";
}

main();
