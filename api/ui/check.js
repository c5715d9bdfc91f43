// The check tab: is a record with this phone, email or name already in the CRM?

import {t} from "./i18n.js";
import {state} from "./state.js";
import {$, h, percent} from "./dom.js";
import {api} from "./api.js";
import {fieldLabel} from "./waterfall.js";

export async function runCheck(event) {
  event.preventDefault();
  const form = event.target;
  const values = Object.fromEntries(new FormData(form));
  const body = {};
  if (values.name.trim()) body.name = values.name.trim();
  if (values.phone.trim()) body.phones = [values.phone.trim()];
  if (values.email.trim()) body.emails = [values.email.trim()];
  const out = $("#check-results");
  if (!Object.keys(body).length) {
    out.replaceChildren(h("p", {class: "muted"}, t("check.need_input")));
    return;
  }
  const plural = values.entity;
  const answer = await api(`v1/${plural}/check`, {method: "POST", body});
  const records = await Promise.all(answer.matches.map(
    (m) => api(`v1/${plural}/${encodeURIComponent(m.record_id)}`).catch(() => null)));
  state.lastCheck = {answer, records, plural};
  renderCheck();
}

export function renderCheck() {
  const out = $("#check-results");
  if (!state.lastCheck) return;
  const {answer, records} = state.lastCheck;
  if (!answer.matches.length) {
    out.replaceChildren(h("p", {class: "card none", id: "check-none"}, t("check.none")));
    return;
  }
  out.replaceChildren(h("h3", {}, t("check.found", {n: answer.matches.length})),
    ...answer.matches.map((m, i) => {
      const r = records[i] || {};
      const agreeing = m.explanation.filter((c) => c.match_weight >= 0.5).map((c) => fieldLabel(c.field));
      return h("article", {class: "card match", dataset: {recordId: m.record_id}},
        h("header", {}, h("strong", {}, r.name || `#${m.record_id}`), h("span", {class: "score"}, percent(m.match_probability))),
        h("p", {class: "muted small"}, `#${m.record_id} · ${t("check.use")}`),
        h("p", {}, [...(r.phones || []), ...(r.emails || [])].join(", ")),
        agreeing.length ? h("p", {class: "small"}, agreeing.map((f) => h("span", {class: "chip same"}, "✓ " + f))) : null);
    }));
}
