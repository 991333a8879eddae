import { api, stream } from "../api.js";
import { clear, errorBox, field, formatNumber, formatTime, h, replace, showError, showRendered } from "../dom.js";
import { locale, t } from "../i18n.js";
import { can } from "../session.js";
import { avatar, personaDescription, personaName } from "./project.js";

// personaPage is where prompt authors shape a persona: try a version, compare versions,
// publish a new one, edit the rubric and the persona itself.
export async function personaPage(id) {
  const [{ persona, rubric, versions }, { models }] = await Promise.all([
    api("GET", `/personas/${id}`),
    api("GET", "/models"),
  ]);
  const project = await api("GET", `/projects/${persona.project_id}`);
  const { corpora } = await api("GET", `/projects/${project.slug}/corpora`);
  const ctx = { persona, rubric, versions, models, corpora, project, reload: () => window.dispatchEvent(new HashChangeEvent("hashchange")) };

  return h("div", { class: "page" },
    h("nav", { class: "crumbs" }, h("a", { href: "#/", i18n: "projects.title" }), " / ",
      h("a", { href: `#/projects/${project.slug}` }, project.name), " / ", personaName(persona)),
    h("header", { class: "persona-head" }, avatar(persona),
      h("div", {}, h("h1", {}, personaName(persona)),
        h("span", { class: "badge" }, t(`kind.${persona.kind}`)),
        h("p", { class: "muted" }, personaDescription(persona)),
        can(project.id, "judge") && versions.length ? h("a", { href: `#/train/${persona.id}`, class: "train-link", i18n: "train.open" }) : null)),
    !versions.length ? h("p", { class: "notice", i18n: "versions.noneYet" })
      : can(project.id, "generate") ? tryPanel(ctx) : null,
    versionsSection(ctx),
    can(project.id, "prompt.write") ? [newVersionForm(ctx), rubricEditor(ctx), detailsForm(ctx)] : null);
}

function modelLabel(m) {
  return m.baseline ? `${m.name} · ${t("models.baseline")}` : m.name;
}

function tryPanel({ persona, versions, models }) {
  const version = h("select", { id: "try-version", dataset: { field: "version" } },
    versions.map((v) => h("option", { value: v.version }, `v${v.version} · ${v.model}`)));
  const model = h("select", { id: "try-model", dataset: { field: "model" } }, h("option", { value: "" }, t("try.versionModel")),
    models.filter((m) => m.available).map((m) => h("option", { value: m.name }, modelLabel(m))));
  const lang = h("select", { id: "try-locale", dataset: { field: "locale" } }, h("option", { value: "zh-CN" }, "中文"), h("option", { value: "en" }, "English"));
  lang.value = locale();
  const message = h("textarea", { id: "try-message", rows: 3, dataset: { field: "message" }, "data-i18n-placeholder": "try.placeholder", placeholder: t("try.placeholder") });
  const send = h("button", { type: "submit", id: "try-send", i18n: "try.send" });
  const stop = h("button", { type: "button", id: "try-stop", i18n: "try.stop", disabled: true });
  const meta = h("p", { class: "muted", id: "try-meta" });
  const output = h("div", { class: "reply", id: "try-output", "aria-live": "polite" });
  const reasoning = h("div", { class: "reasoning", id: "try-reasoning", hidden: true });
  const passages = h("ol", { class: "passages", id: "try-passages" });
  const done = h("p", { class: "muted", id: "try-done" });
  let controller = null;

  const form = h("form", { class: "try", id: "try-form" },
    h("div", { class: "row" }, field("try.version", version), field("try.model", model), field("try.locale", lang)),
    message, h("div", { class: "row" }, send, stop, h("small", { class: "muted", i18n: "try.hint" })));
  const run = async () => {
    if (!message.value.trim()) return;
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    const current = () => controller === mine; // a newer run owns the panel
    output.textContent = "";
    output.classList.remove("rendered");
    reasoning.textContent = "";
    reasoning.hidden = true;
    clear(passages);
    done.textContent = "";
    done.dataset.status = "streaming";
    meta.textContent = t("try.streaming");
    send.disabled = true;
    stop.disabled = false;
    try {
      await stream(`/personas/${persona.id}/versions/${version.value}/try`,
        { message: message.value, locale: lang.value, model: model.value, seed: 1 },
        (name, data) => {
          if (!current()) return;
          if (name === "meta") {
            replace(meta, h("code", {}, data.model),
              data.baseline ? h("span", { class: "badge baseline" }, t("models.baseline")) : null,
              ` · ${t("try.promptHash")} ${data.system_prompt_hash.slice(0, 12)}`);
            for (const p of data.passages || []) {
              passages.append(h("li", {}, h("strong", {}, p.title), " ", h("span", { class: "muted" }, p.text)));
            }
          } else if (name === "delta") {
            // Shown as text while it streams: model output is never parsed as markup.
            if (data.content) output.append(data.content);
            if (data.reasoning) {
              reasoning.hidden = false;
              reasoning.append(data.reasoning);
            }
          } else if (name === "done") {
            if (data.html) showRendered(output, data.html);
            done.dataset.status = data.status;
            done.textContent = t("try.done", {
              status: t(`status.${data.status}`), ttft: formatNumber(data.time_to_first_token_ms),
              total: formatNumber(data.duration_ms), tokens: formatNumber(data.usage.completion_tokens),
            }) + (data.error ? ` · ${data.error}` : "");
          }
        }, mine.signal);
      if (current() && done.dataset.status === "streaming") {
        // The connection closed without a done event: say so rather than spin forever.
        done.dataset.status = "interrupted";
        done.textContent = t("status.interrupted");
      }
    } catch (err) {
      if (!current()) return;
      if (err.name === "AbortError") {
        done.dataset.status = "cancelled";
        done.textContent = t("status.cancelled");
      } else {
        done.dataset.status = "failed";
        showError(form, err, done);
      }
    } finally {
      if (current()) {
        send.disabled = false;
        stop.disabled = true;
      }
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  message.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
  stop.addEventListener("click", () => controller?.abort());

  return h("section", { class: "card", id: "try" },
    h("h2", { i18n: "try.title" }), form, meta, reasoning, output, done,
    h("details", { open: true }, h("summary", { i18n: "try.passages" }), passages));
}

function versionsSection({ persona, versions }) {
  const diffOut = h("pre", { class: "diff", id: "version-diff", hidden: true });
  const showDiff = async (from, to) => {
    try {
      const d = await api("GET", `/personas/${persona.id}/diff?from=${from}&to=${to}`);
      replace(diffOut, ...(d.diff || t("versions.same")).split("\n").map((line) =>
        h("span", { class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "" }, line + "\n")));
    } catch (err) {
      replace(diffOut, errorBox(err));
    }
    diffOut.hidden = false;
  };
  const rows = versions.map((v) =>
    h("tr", { dataset: { version: v.version } },
      h("td", {}, h("strong", {}, `v${v.version}`)), h("td", {}, h("code", {}, v.model)),
      h("td", { class: "num" }, formatNumber(v.temperature, 2)), h("td", { class: "num" }, formatNumber(v.top_p, 2)),
      h("td", { class: "num" }, formatNumber(v.max_tokens)), h("td", { class: "num" }, formatNumber(v.retrieval_k)), h("td", { "data-content": true }, v.change_note), h("td", {}, v.author),
      h("td", {}, formatTime(v.created_at)),
      h("td", {}, v.version > 1
        ? h("button", { type: "button", class: "link diff-button", onclick: () => showDiff(v.version - 1, v.version) },
          t("versions.diffPrev", { n: v.version - 1 }))
        : null)));
  return h("section", { class: "card", id: "versions" },
    h("h2", { i18n: "versions.title" }), h("p", { class: "muted", i18n: "versions.immutable" }),
    h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["versions.version", "versions.model", "versions.temperature", "versions.topP",
        "versions.maxTokens", "versions.k", "versions.note", "versions.author", "versions.created", "versions.compare"]
        .map((k) => h("th", { i18n: k })))),
      h("tbody", {}, rows)),
    diffOut);
}

function newVersionForm({ persona, versions, models, corpora, reload }) {
  const latest = versions[0];
  const template = h("textarea", { id: "version-template", rows: 14, spellcheck: false, dataset: { field: "template" }, value: latest ? latest.template : starterTemplate });
  const model = h("select", { id: "version-model", dataset: { field: "model" } }, models.map((m) => h("option", { value: m.name }, modelLabel(m))));
  model.value = latest ? latest.model : models[0].name;
  const num = (id, value, attrs) => h("input", { id, type: "number", value, dataset: { field: attrs.field }, ...attrs, field: null });
  // step "any": the server checks ranges and names the field, in the trainer's language.
  const temperature = num("version-temperature", latest ? latest.temperature : 0.7, { min: 0, max: 2, step: "any", field: "temperature" });
  const topP = num("version-top-p", latest ? latest.top_p : 1, { min: 0, max: 1, step: "any", field: "top_p" });
  const maxTokens = num("version-max-tokens", latest ? latest.max_tokens : 1024, { min: 1, step: 1, field: "max_tokens" });
  const k = num("version-k", latest ? latest.retrieval_k : 4, { min: 0, max: 50, step: 1, field: "retrieval_k" });
  const vectorWeight = num("version-vector-weight", latest ? latest.vector_weight : 1, { min: 0, step: "any", field: "vector_weight" });
  const textWeight = num("version-text-weight", latest ? latest.text_weight : 1, { min: 0, step: "any", field: "text_weight" });
  const rrfK = num("version-rrf-k", latest ? latest.rrf_k : 60, { min: 1, max: 1000, step: 1, field: "rrf_k" });
  const chosen = new Set(latest ? latest.corpus_ids : corpora.map((c) => c.id));
  const corpusBoxes = corpora.map((c) => {
    const box = h("input", { type: "checkbox", value: c.id, checked: chosen.has(c.id) });
    return { box, label: h("label", { class: "check" }, box, c.name) };
  });
  // A model's configured defaults fill the parameters when the author picks it.
  model.addEventListener("change", () => {
    const m = models.find((x) => x.name === model.value);
    if (m?.temperature != null) temperature.value = m.temperature;
    if (m?.top_p != null) topP.value = m.top_p;
    if (m?.max_tokens != null) maxTokens.value = m.max_tokens;
  });
  const note = h("input", { id: "version-note", maxlength: 2000, dataset: { field: "change_note" } });
  const result = h("div", { id: "version-result" });
  const body = () => ({
    template: template.value, model: model.value, temperature: Number(temperature.value), top_p: Number(topP.value),
    max_tokens: Number(maxTokens.value), retrieval_k: Number(k.value),
    vector_weight: Number(vectorWeight.value), text_weight: Number(textWeight.value), rrf_k: Number(rrfK.value),
    corpus_ids: corpusBoxes.filter((c) => c.box.checked).map((c) => Number(c.box.value)),
    change_note: note.value,
  });
  const check = h("button", { type: "button", id: "version-check", i18n: "versions.check" });
  check.addEventListener("click", async () => {
    try {
      const p = await api("POST", `/personas/${persona.id}/preview`, { template: template.value, locale: locale() });
      replace(result, h("p", { class: "ok", i18n: "versions.valid" }),
        p.opening ? h("p", {}, h("strong", { i18n: "versions.opening" }), " ", p.opening) : null,
        h("pre", { class: "preview", id: "version-preview" }, p.system_prompt),
        p.closing ? h("p", {}, h("strong", { i18n: "versions.closing" }), " ", p.closing) : null);
    } catch (err) {
      showError(form, err, result);
    }
  });
  const form = h("form", { class: "card", id: "new-version", novalidate: true },
    h("h2", { i18n: "versions.new" }), h("p", { class: "muted", i18n: "versions.templateHelp" }),
    h("p", {}, h("code", { class: "fields" }, "{{.Persona.Name}} {{.Locale}} {{.Date}} {{.Conversation.Turns}} {{range .Passages}}[{{.N}}] {{.Title}} {{.Text}}{{end}} {{define \"opening\"}}…{{end}} {{define \"closing\"}}…{{end}}")),
    template,
    h("div", { class: "row" }, field("versions.model", model), field("versions.temperature", temperature), field("versions.topP", topP),
      field("versions.maxTokens", maxTokens), field("versions.k", k),
      field("search.vectorWeight", vectorWeight), field("search.textWeight", textWeight), field("search.rrfK", rrfK)),
    h("fieldset", { dataset: { field: "corpus_ids" } }, h("legend", { i18n: "corpora.title" }), corpusBoxes.map((c) => c.label)),
    h("div", { class: "row" }, field("versions.note", note)),
    h("div", { class: "row" }, check, h("button", { type: "submit", id: "version-publish", i18n: "versions.publish" })),
    result);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `/personas/${persona.id}/versions`, body());
      reload();
    } catch (err) {
      showError(form, err, result);
    }
  });
  return form;
}

const starterTemplate = `{{define "opening"}}{{if eq .Locale "en"}}Hello!{{else}}您好！{{end}}{{end}}
{{define "closing"}}{{if eq .Locale "en"}}Anything else?{{else}}还有什么可以帮您？{{end}}{{end}}
你是{{.Persona.Name}}。{{.Persona.Description}}
{{if .Passages}}请只根据以下资料回答，并用 [编号] 标注出处：
{{range .Passages}}[{{.N}}] {{.Title}}：{{.Text}}
{{end}}{{else}}知识库中没有相关资料时，请如实说明，不要编造。{{end}}`;

function rubricEditor({ persona, rubric, reload }) {
  const tbody = h("tbody");
  const cell = (value, attrs = {}) => h("td", {}, h("input", { value, ...attrs }));
  const addRow = (d) => {
    const axis = h("select", { dataset: { part: "axis" } }, h("option", { value: "iq" }, "IQ"), h("option", { value: "eq" }, "EQ"));
    axis.value = d.axis;
    const row = h("tr", {},
      cell(d.key, { class: "key", size: 14, dataset: { part: "key" } }), h("td", {}, axis), cell(d.label, { dataset: { part: "label" } }),
      cell(d.label_en, { dataset: { part: "label_en" } }), cell(d.guide, { dataset: { part: "guide" } }), cell(d.guide_en, { dataset: { part: "guide_en" } }),
      cell(d.scale_min, { type: "number", class: "num", dataset: { part: "scale_min" } }), cell(d.scale_max, { type: "number", class: "num", dataset: { part: "scale_max" } }),
      h("td", {}, h("button", { type: "button", class: "link", i18n: "common.remove", onclick: () => row.remove() })));
    row.read = () => {
      const v = [...row.querySelectorAll("input")].map((i) => i.value);
      return { key: v[0], axis: axis.value, label: v[1], label_en: v[2], guide: v[3], guide_en: v[4],
        scale_min: Number(v[5]), scale_max: Number(v[6]) };
    };
    tbody.append(row);
  };
  rubric.forEach(addRow);
  const status = h("div", { id: "rubric-status" });
  const save = h("button", { type: "button", id: "rubric-save", i18n: "common.save" });
  save.addEventListener("click", async () => {
    // The server names a wrong value by its row as sent (dimensions[2].label): number the
    // rows' controls so the error shows beside the right one.
    [...tbody.children].forEach((row, i) => row.querySelectorAll("[data-part]").forEach((el) => {
      el.dataset.field = `dimensions[${i}].${el.dataset.part}`;
    }));
    try {
      await api("PUT", `/personas/${persona.id}/rubric`, { dimensions: [...tbody.children].map((r) => r.read()) });
      reload();
    } catch (err) {
      showError(section, err, status);
    }
  });
  const section = h("section", { class: "card", id: "rubric" },
    h("h2", { i18n: "rubric.title" }), h("p", { class: "muted", i18n: "rubric.help" }),
    h("table", { class: "table rubric" },
      h("thead", {}, h("tr", {}, ["rubric.key", "rubric.axis", "rubric.label", "rubric.labelEN", "rubric.guide", "rubric.guideEN",
        "rubric.min", "rubric.max", ""].map((k) => (k ? h("th", { i18n: k }) : h("th"))))),
      tbody),
    h("div", { class: "row" },
      h("button", { type: "button", class: "link", i18n: "rubric.add",
        onclick: () => addRow({ key: "", axis: "iq", label: "", label_en: "", guide: "", guide_en: "", scale_min: 1, scale_max: 5 }) }),
      save),
    status);
  return section;
}

function detailsForm({ persona, reload }) {
  const input = (name, value, attrs) => h("input", { name, value, ...attrs });
  const name = input("name", persona.name), nameEN = input("name_en", persona.name_en);
  const kind = h("select", { name: "kind" },
    h("option", { value: "domain_assistant" }, t("kind.domain_assistant")),
    h("option", { value: "digital_human" }, t("kind.digital_human")));
  kind.value = persona.kind;
  const lang = h("select", { name: "locale" }, h("option", { value: "zh-CN" }, "中文"), h("option", { value: "en" }, "English"));
  lang.value = persona.locale;
  const color = input("avatar_color", persona.avatar_color, { type: "color" });
  const initials = input("avatar_initials", persona.avatar_initials, { maxlength: 2, size: 3 });
  const description = h("textarea", { name: "description", rows: 2, value: persona.description });
  const descriptionEN = h("textarea", { name: "description_en", rows: 2, value: persona.description_en });
  const status = h("div");
  const form = h("form", { class: "card", id: "persona-details" },
    h("h2", { i18n: "personas.details" }),
    h("div", { class: "row" }, field("personas.name", name), field("personas.nameEN", nameEN), field("personas.kind", kind),
      field("personas.locale", lang), field("personas.color", color), field("personas.initials", initials)),
    field("personas.description", description), field("personas.descriptionEN", descriptionEN),
    h("button", { type: "submit", i18n: "common.save" }), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("PUT", `/personas/${persona.id}`, {
        name: name.value, name_en: nameEN.value, kind: kind.value, locale: lang.value, avatar_color: color.value,
        avatar_initials: initials.value, description: description.value, description_en: descriptionEN.value,
      });
      reload();
    } catch (err) {
      showError(form, err, status);
    }
  });
  return form;
}
