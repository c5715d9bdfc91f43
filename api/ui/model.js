// The model tab: the current model of each entity and the link to the MLflow UI.

import {t} from "./i18n.js";
import {PLURAL, ROOT, state} from "./state.js";
import {$, h, percent} from "./dom.js";
import {api} from "./api.js";

export async function loadModel() {
  const [settings, ...models] = await Promise.all([
    fetch(new URL("ui/settings.json", ROOT)).then((r) => r.json()),
    api("v1/models/current?entity=contact"), api("v1/models/current?entity=company")]);
  $("#mlflow-link").href = settings.mlflow_ui_url;
  state.models = models;
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
      row("model.reranker", t(m.reranker ? "model.yes" : "model.no"))))));
}
