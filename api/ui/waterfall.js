// Why a pair scored what it did: the pair buttons and the match weight waterfall, field by field.

import {t} from "./i18n.js";
import {state} from "./state.js";
import {h, percent, signed} from "./dom.js";
import {renderDetail} from "./detail.js";

// What a compared field's level means, in words (the levels are Splink's labels in models/*.json).
function outcome(c) {
  const level = c.level || "";
  if (c.gamma === -1 || /missing|is NULL/i.test(level)) return "outcome.missing";
  if (/different first/i.test(level)) return "outcome.different_first";
  if (/different surname/i.test(level)) return "outcome.different_last";
  if (/site domain = email domain/i.test(level)) return "outcome.site_email";
  if (/at most 3 names/i.test(level)) return "outcome.same_rare";
  if (/many names/i.test(level)) return "outcome.same_common";
  if (/^Exact match|^shares/i.test(level)) return "outcome.same";
  if (/Jaro|Levenshtein|Damerau|within/i.test(level)) return "outcome.similar";
  if (/Array (subset|intersection)/i.test(level)) return "outcome.partial";
  return c.match_weight > 0 ? "outcome.similar" : "outcome.different";
}

function strength(weight) {
  // a point of match weight doubles the odds: 8 points is 256 times, 3 points 8 times, 1 point twice
  const size = Math.abs(weight);
  if (size < 0.5) return "why.neutral";
  const side = weight > 0 ? "for" : "against";
  if (size >= 8) return `why.strong_${side}`;
  if (size >= 3) return `why.${side}`;
  return `why.weak_${side}`;
}

export function fieldLabel(field) {
  const key = `cmp.${field}`;
  const text = t(key);
  return text === key ? field : text;
}

export function renderPairs(detail) {
  const pair = detail.pairs[state.pairIndex];
  const confirmed = new Set(detail.decisions.filter((d) => d.decision === "duplicate")
    .map((d) => `${d.left_id}|${d.right_id}`));
  const buttons = detail.pairs.map((p, i) => h("button", {
    class: "pair", "aria-pressed": String(i === state.pairIndex), dataset: {pair: `${p.left_id}|${p.right_id}`},
    onclick: () => { state.pairIndex = i; renderDetail(); }},
    `${p.left_id} ↔ ${p.right_id}`, h("span", {class: "score"}, percent(p.match_probability)),
    confirmed.has([p.left_id, p.right_id].sort().join("|")) ? h("span", {class: "badge ok"}, "✓ " + t("confirm")) : null));
  return h("section", {class: "card why", "aria-labelledby": "pairs-title"},
    h("h3", {id: "pairs-title"}, t("pairs.title")),
    h("div", {class: "pairs", role: "group"}, buttons),
    pair ? renderWaterfall(pair) : null);
}

function renderWaterfall(pair) {
  const fields = pair.contributions.reduce((sum, c) => sum + c.match_weight, 0);
  const prior = pair.match_weight - fields;  // Splink: match weight = prior + each field's weight
  const steps = [{label: t("why.prior"), detail: "", weight: prior, kind: "prior"}];
  const missing = pair.contributions.filter((c) => outcome(c) === "outcome.missing" && c.match_weight === 0);
  for (const c of pair.contributions.filter((x) => !missing.includes(x))) {
    steps.push({label: `${fieldLabel(c.field)}: ${t(outcome(c))}`, detail: t(strength(c.match_weight)),
                weight: c.match_weight, kind: c.match_weight > 0.05 ? "up" : c.match_weight < -0.05 ? "down" : "flat",
                level: c.level});
  }
  let run = 0;
  const points = [0];
  for (const s of steps) {
    s.from = run;
    run += s.weight;
    s.to = run;
    points.push(run);
  }
  const lo = Math.min(...points);
  const hi = Math.max(...points);
  const span = hi - lo || 1;
  const pos = (x) => ((x - lo) / span) * 100;
  const rows = steps.map((s) => h("li", {class: `step ${s.kind}`, title: s.level || null},
    h("span", {class: "step-label"}, s.label, s.detail ? h("span", {class: "step-detail"}, ` — ${s.detail}`) : null),
    h("span", {class: "step-track", "aria-hidden": "true"},
      h("span", {class: "zero", style: `left:${pos(0)}%`}),
      h("span", {class: "step-bar", style: `left:${pos(Math.min(s.from, s.to))}%;` +
                                            `width:${Math.max(0.6, Math.abs(s.to - s.from) / span * 100)}%`})),
    h("span", {class: "step-value"}, signed(s.weight))));
  if (missing.length) {
    rows.push(h("li", {class: "step flat missing"},
      h("span", {class: "step-label muted"}, t("why.missing", {fields: missing.map((c) => fieldLabel(c.field)).join(", ")})),
      h("span", {class: "step-track", "aria-hidden": "true"}, h("span", {class: "zero", style: `left:${pos(0)}%`})),
      h("span", {class: "step-value muted"}, signed(0))));
  }
  rows.push(h("li", {class: "step total"},
    h("span", {class: "step-label"}, t("why.total", {weight: signed(pair.match_weight),
                                                     percent: percent(pair.match_probability)})),
    h("span", {class: "step-track", "aria-hidden": "true"},
      h("span", {class: "zero", style: `left:${pos(0)}%`}),
      h("span", {class: "marker", style: `left:${pos(pair.match_weight)}%`})),
    h("span", {class: "step-value"}, signed(pair.match_weight))));
  return h("figure", {class: "waterfall"},
    h("figcaption", {}, h("strong", {}, t("why.title", {percent: percent(pair.match_probability),
                                                          left: pair.left_id, right: pair.right_id})),
      h("span", {class: "muted small block"}, t("why.intro"))),
    h("ol", {class: "steps"}, rows));
}
