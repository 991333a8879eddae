// app: the shell. It owns sign-in, the language switch and a small hash router; each page
// module renders into <main> and is rendered again when the language changes.
import { whenSignedOut } from "./api.js";
import { preferredLocale, setLocale, t } from "./i18n.js";
import { clear, errorBox, h } from "./dom.js";
import { clearSession, loadSession, session, signOut } from "./session.js";
import { signInPage } from "./pages/signin.js";
import { homePage } from "./pages/home.js";
import { projectPage } from "./pages/project.js";
import { exportPage } from "./pages/export.js";
import { personaPage } from "./pages/persona.js";
import { modelsPage } from "./pages/models.js";
import { accountPage } from "./pages/account.js";
import { usersPage, auditPage } from "./pages/admin.js";
import { stopLive, trainPage } from "./pages/train.js";
import { corpusPage, stopCorpusPoll } from "./pages/corpus.js";
import { apiDocPage } from "./pages/apidoc.js";
import { basePage, sessionPage, stopWork, workPage } from "./pages/work.js";
import { campaignsPage } from "./pages/campaigns.js";
import { appealsPage, inspectPage, qcPage, reinspectPage, reviewPage, reworkPage, stopQC } from "./pages/qc.js";
import { leaderboardPage } from "./pages/leaderboard.js";
import { qualityPage } from "./pages/quality.js";
import { revisionsPage } from "./pages/revisions.js";

const routes = [
  [/^#?\/?$/, () => homePage()],
  [/^#\/projects\/([\w-]+)$/, (m) => projectPage(m[1])],
  [/^#\/projects\/([\w-]+)\/export$/, (m) => exportPage(m[1])],
  [/^#\/personas\/(\d+)$/, (m) => personaPage(Number(m[1]))],
  [/^#\/train\/(\d+)$/, (m) => trainPage(Number(m[1]))],
  [/^#\/corpora\/(\d+)$/, (m) => corpusPage(Number(m[1]))],
  [/^#\/models$/, () => modelsPage()],
  [/^#\/account$/, () => accountPage()],
  [/^#\/admin\/users$/, () => usersPage()],
  [/^#\/admin\/audit$/, () => auditPage()],
  [/^#\/api$/, () => apiDocPage()],
  // Campaigns: my work, a work session, a lead's base, a project's campaign set-up.
  [/^#\/work$/, () => workPage()],
  [/^#\/work\/(\d+)$/, (m) => sessionPage(Number(m[1]))],
  [/^#\/bases\/(\d+)$/, (m) => basePage(Number(m[1]))],
  [/^#\/projects\/([\w-]+)\/campaigns$/, (m) => campaignsPage(m[1])],
  // Quality control (issue 14, part A): review stream, batch inspection, rework, QC dashboard.
  [/^#\/campaigns\/(\d+)\/review$/, (m) => reviewPage(Number(m[1]))],
  [/^#\/batches\/(\d+)\/inspect\/(base|centre)$/, (m) => inspectPage(Number(m[1]), m[2])],
  [/^#\/reworks\/(\d+)$/, (m) => reworkPage(Number(m[1]))],
  [/^#\/campaigns\/(\d+)\/qc(?:\?base=(\d+))?$/, (m) => qcPage(Number(m[1]), m[2] ? Number(m[2]) : null)],
  // Quality control screens: deciding appeals, re-inspecting a rejected batch.
  [/^#\/campaigns\/(\d+)\/appeals$/, (m) => appealsPage(Number(m[1]))],
  [/^#\/batches\/(\d+)\/reinspect$/, (m) => reinspectPage(Number(m[1]))],
  // Leaderboards (issue 15).
  [/^#\/projects\/([\w-]+)\/leaderboard(?:\?(.*))?$/, (m) => leaderboardPage(m[1], new URLSearchParams(m[2] ?? ""))],
  // Quality control, part B (issue 14): a campaign's figures per trainer, gold items, pauses.
  [/^#\/campaigns\/(\d+)\/trainers$/, (m) => qualityPage(Number(m[1]))],
  // A judgment's revisions (issue 14): its trainer's revisions and the reviewers' fixes.
  [/^#\/judgments\/(\d+)\/revisions$/, (m) => revisionsPage(Number(m[1]))],
];

let rendering = 0;
// Language switches under way. The page says it is ready (body[data-ready]) only when none
// is: a switch whose catalog is still loading re-renders the page when it arrives, and the
// page shown until then is about to go, with its socket. (A trainer's click on it, or a
// test's, was lost: the next render closed the socket it had just been sent into.)
let switching = 0;
let switches = Promise.resolve();

function showUser() {
  const s = session();
  const box = document.getElementById("user-box");
  clear(box);
  document.querySelectorAll(".nav .admin-only").forEach((el) => (el.hidden = !s?.user?.is_admin));
  document.querySelector(".nav").hidden = !s;
  if (!s) return;
  const out = h("button", { type: "button", class: "link", id: "sign-out", i18n: "session.signOut" });
  out.addEventListener("click", async () => {
    await signOut();
    render();
  });
  // On a phone the name gives way to its first letter in a badge (style.css): whole, where
  // the name cut short read "训..". The link keeps the full name for screen readers.
  const name = s.user.display_name;
  box.append(h("a", { href: "#/account", id: "current-user", title: name },
    h("span", { class: "user-initial", "aria-hidden": "true" }, [...name.trim()][0] ?? "?"),
    h("span", { class: "user-name" }, name)), h("span", { class: "user-sep", "aria-hidden": "true" }, " · "), out);
}

export async function render() {
  const main = document.getElementById("main");
  const turn = ++rendering;
  document.body.dataset.ready = "false";
  stopLive(); // the trainer's screen opens its own socket again if it is the next page
  stopCorpusPoll();
  stopWork();
  stopQC();
  let page;
  try {
    if (!session()) {
      page = signInPage(() => render());
    } else {
      const route = routes.find(([re]) => re.test(location.hash));
      page = route ? await route[1](location.hash.match(route[0])) : h("p", { i18n: "nav.notFound" });
    }
  } catch (err) {
    console.warn(err);
    page = errorBox(err);
  }
  if (turn !== rendering) {
    page?.discard?.(); // a newer navigation won: this page is never shown, and lets go of what it opened
    return;
  }
  showUser();
  clear(main).append(page);
  document.title = t("app.name");
  document.body.dataset.ready = switching === 0 ? "true" : "false";
}

async function main() {
  const select = document.getElementById("locale-select");
  const initial = preferredLocale();
  select.value = initial;
  await setLocale(initial);
  select.addEventListener("change", () => {
    // Not ready from the first moment: the page is about to be rebuilt in the new language.
    // Switches apply one after another, in the order chosen, so the last one's catalog is
    // the one that stays; each renders, and only a render with no switch left says ready.
    const next = select.value;
    switching++;
    document.body.dataset.ready = "false";
    switches = switches.then(() => setLocale(next)).catch((err) => console.warn(err)).then(() => {
      switching--;
      render();
    });
  });
  whenSignedOut(() => {
    if (session()) {
      clearSession();
      render();
    }
  });
  window.addEventListener("hashchange", render);
  await loadSession();
  await render();
}

main();
