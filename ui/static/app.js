// app: the shell. It owns the language switch and a small hash router; each page module
// renders into <main> and is rendered again when the language changes.
import { preferredLocale, setLocale } from "./i18n.js";
import { clear, errorBox, h } from "./dom.js";
import { homePage } from "./pages/home.js";
import { projectPage } from "./pages/project.js";
import { personaPage } from "./pages/persona.js";
import { modelsPage } from "./pages/models.js";

const routes = [
  [/^#?\/?$/, () => homePage()],
  [/^#\/projects\/([\w-]+)$/, (m) => projectPage(m[1])],
  [/^#\/personas\/(\d+)$/, (m) => personaPage(Number(m[1]))],
  [/^#\/models$/, () => modelsPage()],
];

let rendering = 0;

async function render() {
  const main = document.getElementById("main");
  const turn = ++rendering;
  document.body.dataset.ready = "false";
  let page;
  try {
    const route = routes.find(([re]) => re.test(location.hash));
    page = route ? await route[1](location.hash.match(route[0])) : h("p", { i18n: "nav.notFound" });
  } catch (err) {
    console.warn(err);
    page = errorBox(err);
  }
  if (turn !== rendering) return; // a newer navigation won
  clear(main).append(page);
  document.body.dataset.ready = "true";
}

async function main() {
  const select = document.getElementById("locale-select");
  const initial = preferredLocale();
  select.value = initial;
  await setLocale(initial);
  select.addEventListener("change", async () => {
    await setLocale(select.value);
    render();
  });
  window.addEventListener("hashchange", render);
  await render();
}

main();
