// The model tab: the current model of each entity and the link to the MLflow UI.

import {t} from "./i18n.js";
import {PLURAL, ROOT, state} from "./state.js";
import {$, h, percent} from "./dom.js";
import {api} from "./api.js";

export async function loadModel() {
  const [settings, amocrm, ...models] = await Promise.all([
    fetch(new URL("ui/settings.json", ROOT)).then((r) => r.json()),
    // 404: the account has no amoCRM connection (or the service none configured): no panel
    api("v1/amocrm/status").catch((error) => { if (error.status === 404) return null; throw error; }),
    api("v1/models/current?entity=contact"), api("v1/models/current?entity=company")]);
  $("#mlflow-link").href = settings.mlflow_ui_url;
  state.models = models;
  state.amocrm = amocrm;
  renderModel();
}

export function renderModel() {
  if (!state.models) return;
  const row = (label, value) => [h("dt", {}, t(label)), h("dd", {}, value)];
  $("#model-view").replaceChildren(...state.models.map((m) => h("section", {class: "card", dataset: {entity: m.entity}},
    h("h2", {}, `${t("model.title")}: ${t("entity." + PLURAL[m.entity])}`),
    h("dl", {class: "plan-list"},
      row("model.version", h("code", {class: "model-version"}, m.version)),
      row("model.source", m.source),
      row("model.review", percent(m.review_threshold)),
      row("model.auto", percent(m.auto_merge_threshold)),
      row("model.reranker", t(m.reranker ? "model.yes" : "model.no"))))),
    ...amocrmCard(row));
}

function amocrmCard(row) {
  const a = state.amocrm;
  if (!a) return [];
  const when = (value) => (value ? new Date(value).toLocaleString() : t("amocrm.never"));
  return [h("section", {class: "card", id: "amocrm-status", dataset: {status: a.status}},
    h("h2", {}, `${t("amocrm.title")}: ${a.subdomain}`),
    h("dl", {class: "plan-list"},
      row("amocrm.status", t("amocrm." + a.status) + (a.reason ? ` (${a.reason})` : "")),
      row("amocrm.webhook", when(a.last_webhook_at)),
      row("amocrm.catchup", when(a.last_catchup_at)),
      row("amocrm.pulled", String(a.records_pulled)),
      row("amocrm.import", `${a.import.pages_done} / ${a.import.pages_estimated}`),
      row("amocrm.pending", String(a.pending_write_backs)),
      row("amocrm.writeBack", a.write_back ? `${t("model.yes")} («${a.tag}»)` : t("model.no"))))];
}
