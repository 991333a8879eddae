// i18n: message catalogs, the chosen locale, and applying both to the page.
// Elements carry data-i18n="key"; their text is replaced, never their HTML, so a translation
// can never inject markup.

export const LOCALES = ["zh-CN", "en"];
const STORAGE_KEY = "mentor-locale";

let catalog = {};
let current = "zh-CN";

export function preferredLocale() {
  const saved = localStorage.getItem(STORAGE_KEY);
  if (LOCALES.includes(saved)) return saved;
  // Chinese first: most trainers work in Chinese, so anything but an explicit English
  // preference gets zh-CN.
  return (navigator.language || "").toLowerCase().startsWith("en") ? "en" : "zh-CN";
}

export async function setLocale(locale) {
  if (!LOCALES.includes(locale)) locale = "zh-CN";
  const res = await fetch(`/static/locales/${locale}.json`);
  if (!res.ok) throw new Error(`catalog ${locale}: HTTP ${res.status}`);
  catalog = await res.json();
  current = locale;
  localStorage.setItem(STORAGE_KEY, locale);
  document.documentElement.lang = locale;
  translate(document);
}

export function locale() {
  return current;
}

// t returns the message for key, with {name} placeholders filled from params.
export function t(key, params = {}) {
  const msg = catalog[key] ?? key;
  return msg.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? `{${name}}`));
}

export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  document.title = t("app.name");
}
