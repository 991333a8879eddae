import { api } from "../api.js";
import { errorBox, field, formatNumber, h, replace, term } from "../dom.js";
import { t } from "../i18n.js";

// exportPage lets an ML engineer pick a format and filters, see how many rows they give
// (the server counts them from the same query the export runs) and download the file.
// Downloading is two requests: a POST (with the CSRF header) records the export as a
// snapshot, and a plain link then fetches that snapshot's file, which the browser saves as
// it streams. Another site can make the browser follow a link, but never send the POST.
export async function exportPage(slug) {
  const [{ project, personas }, { formats, encodings, statuses }] = await Promise.all([
    api("GET", `/projects/${slug}/personas`),
    api("GET", "/exports/formats"),
  ]);
  // Format names are identifiers (trl-sft): the option shows the catalog's name for each,
  // and the page the catalog's description, with the server's English as the fallback.
  const format = h("select", { id: "export-format" }, formats.map((f) => h("option", { value: f.name }, term("exportFormat", f.name))));
  const kind = h("select", { id: "export-kind" });
  const encoding = h("select", { id: "export-encoding" }, encodings.map((e) => h("option", { value: e }, term("encoding", e))));
  const persona = h("select", { id: "export-persona" }, h("option", { value: "", i18n: "export.all" }),
    personas.map((p) => h("option", { value: p.slug }, p.name)));
  const status = h("select", { id: "export-status" }, h("option", { value: "", i18n: "export.all" }),
    statuses.map((s) => h("option", { value: s }, term("status", s))));
  const model = h("input", { id: "export-model", placeholder: "gpt-4o, qwen-plus", translate: "no" });
  const annotator = h("input", { id: "export-annotator" });
  const from = h("input", { id: "export-from", type: "date" });
  const to = h("input", { id: "export-to", type: "date" });
  const minMargin = h("input", { id: "export-min-margin", type: "number", min: "0", step: "0.1", value: "0" });
  const baseline = h("input", { id: "export-baseline", type: "checkbox" });
  // Quality control (issue 14): filters on what review, batches and the speed floor found.
  const qc = ["accepted_only", "exclude_held", "exclude_speed_flagged", "consensus"].map((k) => [k, h("input", { id: `export-${k.replaceAll("_", "-")}`, type: "checkbox" })]);
  // Quality control, part C: the minimum Kendall's W of a campaign item (0 is off); consensus
  // mode is the last of the boxes above.
  const minAgreement = h("input", { id: "export-min-agreement", type: "number", min: "0", max: "1", step: "0.05", value: "0" });
  const testFraction = h("input", { id: "export-test-fraction", type: "number", min: "0", max: "0.9", step: "0.05", value: "0" });
  const split = h("select", { id: "export-split" }, h("option", { value: "", i18n: "export.all" }),
    h("option", { value: "train", i18n: "split.train" }), h("option", { value: "test", i18n: "split.test" }));
  const count = h("p", { id: "export-count", class: "muted", "aria-live": "polite" });
  const button = h("button", { id: "export-download", type: "button", i18n: "export.download" });
  // The snapshot's file: the browser saves it as soon as the export is made, and it stays
  // on the page to save again (or when the browser held back a download it was not asked
  // for by a click). Its text is the file name.
  const file = h("a", { id: "export-file", download: "", hidden: true });
  const status2 = h("div");

  const description = h("p", { class: "muted", id: "export-description" });
  const setKinds = () => {
    const f = formats.find((x) => x.name === format.value);
    replace(kind, ...f.kinds.map((k) => h("option", { value: k.name }, term("exportKind", k.name))));
    kind.disabled = f.kinds.length < 2;
    const key = `exportFormat.${f.name}.description`;
    description.textContent = t(key) === key ? f.description : t(key);
  };

  // request is the export's parameters, by the names both the count's query string and the
  // export's JSON body use; lists may separate values with commas.
  const request = () => {
    const r = { format: format.value };
    const add = (k, v) => v && (r[k] = v);
    if (!kind.disabled) add("kind", kind.value);
    add("persona", persona.value && [persona.value]);
    add("status", status.value && [status.value]);
    add("model", model.value.trim() && [model.value.trim()]);
    add("annotator", annotator.value.trim() && [annotator.value.trim()]);
    add("from", from.value);
    add("to", to.value);
    if (Number(minMargin.value) > 0) r.min_margin = Number(minMargin.value);
    if (baseline.checked) r.include_baseline = true;
    for (const [k, box] of qc) if (box.checked) r[k] = true;
    if (minAgreement.value !== "" && Number(minAgreement.value) !== 0) r.min_agreement = Number(minAgreement.value);
    if (Number(testFraction.value) > 0) r.test_fraction = Number(testFraction.value);
    return r;
  };
  const query = (r) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(r)) q.set(k, Array.isArray(v) ? v.join(",") : String(v));
    return q;
  };

  let turn = 0;
  let timer = 0;
  let inFlight = null;
  const refresh = () => {
    clearTimeout(timer);
    // Debounced: typing a model name should not start a count per keystroke. A count still
    // running for older filters is aborted, which stops its query on the server.
    timer = setTimeout(async () => {
      const mine = ++turn;
      inFlight?.abort();
      inFlight = new AbortController();
      const q = query(request());
      file.hidden = true; // a snapshot of other filters
      count.dataset.state = "counting";
      count.textContent = t("export.counting");
      try {
        const res = await api("GET", `/projects/${slug}/exports/count?${q}`, undefined, inFlight.signal);
        if (mine !== turn) return;
        replace(status2);
        count.textContent = res.rows === 0 ? t("export.none") : t("export.rows", { n: formatNumber(res.rows) });
        count.dataset.rows = String(res.rows);
        count.dataset.state = "done";
        button.hidden = res.rows === 0;
      } catch (err) {
        if (mine !== turn || err.name === "AbortError") return;
        count.dataset.state = "error";
        count.textContent = "";
        button.hidden = true;
        replace(status2, errorBox(err));
      }
    }, 250);
  };

  const download = async () => {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    replace(status2);
    try {
      const body = { ...request(), encoding: encoding.value };
      if (split.value) body.split = split.value;
      const res = await api("POST", `/projects/${slug}/exports`, body);
      const [f] = res.manifest.files;
      file.href = res.download_url;
      file.textContent = f.name;
      file.dataset.snapshot = String(res.snapshot_id);
      file.dataset.sha256 = f.sha256;
      file.hidden = false;
      file.click();
    } catch (err) {
      replace(status2, errorBox(err));
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  };
  button.addEventListener("click", download);

  format.addEventListener("change", () => {
    setKinds();
    refresh();
  });
  for (const el of [kind, encoding, persona, status, model, annotator, from, to, minMargin, baseline, testFraction, split, minAgreement, ...qc.map(([, box]) => box)]) {
    el.addEventListener(el.tagName === "INPUT" && el.type !== "checkbox" ? "input" : "change", refresh);
  }
  setKinds();
  refresh();

  return h("div", { class: "page" },
    h("nav", { class: "crumbs" }, h("a", { href: "#/", i18n: "projects.title" }), " / ",
      h("a", { href: `#/projects/${project.slug}` }, project.name), " / ", h("span", { i18n: "export.title" })),
    h("h1", { i18n: "export.title" }),
    h("p", { class: "muted", i18n: "export.intro" }),
    h("form", { class: "inline-form", id: "export-form", onsubmit: (e) => e.preventDefault() },
      field("export.format", format), description, field("export.kind", kind), field("export.encoding", encoding),
      field("export.persona", persona), field("export.status", status), field("export.model", model),
      field("export.annotator", annotator), field("export.from", from), field("export.to", to),
      field("export.minMargin", minMargin), field("export.baseline", baseline),
      qc.map(([k, box]) => field(`export.qc.${k}`, box)), field("export.qc.min_agreement", minAgreement),
      field("export.testFraction", testFraction), field("export.split", split)),
    count, button, " ", file, status2);
}
