// One group on the right: selecting and loading it, side by side, actions and the merge plan.

import {t} from "./i18n.js";
import {PLURAL, state} from "./state.js";
import {$, h, percent, dateText} from "./dom.js";
import {api, query, reportError} from "./api.js";
import {markDuplicates, markNotDuplicate, splitOff, undoLast} from "./decisions.js";
import {renderPairs} from "./waterfall.js";

export async function select(index, {sameGroup = false} = {}) {
  state.selected = index;
  if (!sameGroup) {
    state.pairIndex = null;
    state.memberId = null;
    state.survivor = null;
  }
  for (const item of document.querySelectorAll(".group-item")) {
    item.setAttribute("aria-selected", String(Number(item.dataset.index) === index));
  }
  if (index < 0) {
    state.detail = null;
    renderDetail();
    return;
  }
  const item = document.querySelector(`.group-item[data-index="${index}"]`);
  if (item) {
    item.scrollIntoView({block: "nearest"});
    $("#group-list").setAttribute("aria-activedescendant", item.id);
  }
  await loadDetail();
}

export async function loadDetail() {
  const group = state.groups[state.selected];
  if (!group) return;
  const token = ++state.detailToken;
  const detail = await api(`v1/groups/${encodeURIComponent(group.group_id)}` + query({survivor: state.survivor || ""}));
  const plural = PLURAL[detail.entity];
  // responsible user, deals and companies of each member: the record endpoint has them
  const records = await Promise.all(detail.members.map(
    (m) => api(`v1/${plural}/${encodeURIComponent(m.record_id)}`).catch(() => null)));
  if (token !== state.detailToken) return;
  state.detail = detail;
  state.records = Object.fromEntries(records.filter(Boolean).map((r) => [r.record_id, r]));
  const live = liveMembers(detail);
  if (state.pairIndex === null || state.pairIndex >= detail.pairs.length) {
    // the weakest link is why a group needs a look: select it first
    state.pairIndex = Math.max(0, detail.pairs.length - 1);
  }
  if (!live.some((m) => m.record_id === state.memberId)) {
    const pair = detail.pairs[state.pairIndex];
    const other = live.find((m) => m.record_id !== detail.merge_plan.survivor_id);
    state.memberId = pair && pair.right_id !== detail.merge_plan.survivor_id ? pair.right_id
      : (other ? other.record_id : null);
  }
  renderDetail();
}

export function liveMembers(detail) {
  return detail.members.filter((m) => detail.status === "merged" || (!m.deleted && !m.merged_into));
}

// --- one group ---------------------------------------------------------------------------------------

export function renderDetail() {
  const view = $("#group-view");
  const detail = state.detail;
  if (!detail) {
    view.replaceChildren(h("p", {class: "placeholder"}, t(state.groups.length ? "group.none" : "groups.empty")));
    return;
  }
  const members = liveMembers(detail);
  const confirmed = allConfirmed(detail, members);
  view.replaceChildren(
    h("header", {class: "group-head"},
      h("h2", {id: "group-title"}, members.map((m) => m.name).filter(Boolean).slice(0, 3).join(" · ")
        || members.map((m) => `#${m.record_id}`).join(" · ")),
      h("p", {class: "group-sub"},
        h("strong", {class: "score"}, t("group.score", {score: percent(detail.group_score)})),
        h("span", {class: "muted"}, ` · ${t("entity." + detail.entity)} · ${t("group.records", {n: members.length})}`
          + ` · ${detail.group_id}`),
        detail.needs_review ? detail.review_reasons.map((r) => h("span", {class: "badge warn"}, reasonText(r))) : null,
        detail.status === "merged" ? h("span", {class: "badge"}, t("group.merged")) : null,
        confirmed ? h("span", {class: "badge ok", id: "confirmed-badge"}, t("group.confirmed")) : null),
      renderActions(detail)),
    h("div", {class: "group-body"},
      h("div", {class: "group-main"}, renderSideBySide(detail, members), renderPairs(detail)),
      renderPlan(detail, members)));
}

// The scan writes its review reasons in English (resolver/groups.py): these are its three shapes.
function reasonText(reason) {
  let m = reason.match(/^large group: (\d+) records$/);
  if (m) return t("reason.large", {n: m[1]});
  m = reason.match(/^weakest link ([\d.]+) is below the auto-merge threshold ([\d.]+)$/);
  if (m) return t("reason.weak", {score: percent(Number(m[1])), threshold: percent(Number(m[2]))});
  m = reason.match(/^(\S+) and (\S+) are linked only by a shared (\w+)$/);
  if (m) {
    const key = `reason.only.${m[3]}`;
    const what = t(key);
    return t("reason.only", {left: m[1], right: m[2], what: what === key ? m[3] : what});
  }
  return reason;
}

function allConfirmed(detail, members) {
  const confirmed = new Set(detail.decisions.filter((d) => d.decision === "duplicate")
    .map((d) => `${d.left_id}|${d.right_id}`));
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const [a, b] = [members[i].record_id, members[j].record_id].sort();
      if (!confirmed.has(`${a}|${b}`)) return false;
    }
  }
  return members.length > 1;
}

function renderActions(detail) {
  const open = detail.status === "open";
  const pair = detail.pairs[state.pairIndex];
  const button = (id, key, label, handler, disabled, kind = "secondary") => h("button", {
    id, class: kind, onclick: handler, disabled: disabled || null, "aria-keyshortcuts": key},
    label, " ", h("kbd", {}, key));
  return h("div", {class: "actions", role: "toolbar", "aria-label": t("actions.label")},
    button("action-duplicates", "d", t("actions.duplicates"), markDuplicates, !open, "primary"),
    button("action-not-duplicate", "n", t("actions.not_duplicate"), markNotDuplicate, !open || !pair, "danger"),
    button("action-split", "s", `${t("actions.split")} ${state.memberId || ""}`.trim(), splitOff,
           !open || !state.memberId),
    button("action-undo", "u", t("actions.undo"), undoLast, !state.undo.length));
}

function nameKey(name) {
  // "Петров Иван" and "иван  петров" are one name to a reviewer: compare the sorted words
  return (name || "").toLowerCase().replace(/ё/g, "е").split(/[^\p{L}\p{N}]+/u).filter(Boolean).sort().join(" ");
}

function renderSideBySide(detail, members) {
  const plan = detail.merge_plan;
  const rows = [
    ["field.name", (m) => (m.name ? [m.name] : []), nameKey],
    ["field.phones", (m) => m.phones, (v) => v],
    ["field.emails", (m) => m.emails, (v) => v.toLowerCase()],
    ["field.responsible", (m) => { const r = state.records[m.record_id]; return r && r.responsible_user_id ? [r.responsible_user_id] : []; }, (v) => v],
    ["field.leads", (m) => (state.records[m.record_id] || {}).lead_ids || [], (v) => v],
    ["field.companies", (m) => (state.records[m.record_id] || {}).company_ids || [], (v) => v],
  ];
  const head = h("tr", {}, h("th", {scope: "col"}, t("side.field")), members.map((m) => {
    const chosen = m.record_id === state.memberId;
    return h("th", {scope: "col", class: chosen ? "member chosen" : "member"},
      h("button", {class: "member-pick", "aria-pressed": String(chosen), dataset: {recordId: m.record_id},
                   "aria-label": t("side.select", {id: m.record_id}),
                   onclick: () => { state.memberId = m.record_id; renderDetail(); }},
        h("span", {class: "member-id"}, `#${m.record_id}`),
        m.record_id === plan.survivor_id ? h("span", {class: "badge ok"}, t("side.survivor")) : null,
        chosen ? h("span", {class: "visually-hidden"}, t("side.selected")) : null));
  }));
  // Names are spelled many ways ("АЛЕКСАНДР КОЗЛОВ", "Козлов Александр Геннадьевич"): the model's own
  // verdict on the pairs says whether two of them are the same name, not the letters
  const nameAgrees = (id) => detail.pairs.some((p) => (p.left_id === id || p.right_id === id)
    && p.contributions.some((c) => c.field === "name" && c.match_weight > 0));
  const body = rows.filter(([, values]) => members.some((m) => values(m).length)).map(([label, values, key]) => {
    const sets = members.map((m) => new Set(values(m).map(key)));
    return h("tr", {}, h("th", {scope: "row"}, t(label)), members.map((m, i) => {
      const mine = values(m);
      const othersHave = sets.some((s, j) => j !== i && s.size);
      const chips = mine.map((v) => {
        const same = sets.some((s, j) => j !== i && s.has(key(v)))
          || (label === "field.name" && nameAgrees(m.record_id));
        const cls = (same ? "chip same" : othersHave ? "chip diff" : "chip") + (label === "field.name" ? " wrap" : "");
        const note = same ? t("side.same") : othersHave ? t("side.diff") : null;
        return h("span", {class: cls, title: note}, same ? "✓ " : othersHave ? "≠ " : "", v,
                 note ? h("span", {class: "visually-hidden"}, ` (${note})`) : null);
      });
      const cls = !mine.length ? "empty" : chips.every((c) => c.classList.contains("same")) ? "agree"
        : chips.some((c) => c.classList.contains("diff")) ? "disagree" : "";
      return h("td", {class: cls}, chips.length ? chips : "—");
    }));
  });
  body.push(h("tr", {}, h("th", {scope: "row"}, t("field.updated")),
    members.map((m) => h("td", {}, dateText((state.records[m.record_id] || {}).updated_at) || "—"))));
  return h("section", {class: "card side", "aria-labelledby": "side-title"},
    h("h3", {id: "side-title"}, t("side.title")),
    h("div", {class: "table-wrap"}, h("table", {class: "side-table"}, h("thead", {}, head), h("tbody", {}, body))),
    h("p", {class: "muted small"}, t("side.legend")));
}

function renderPlan(detail, members) {
  const plan = detail.merge_plan;
  const list = (values) => (values && values.length ? values.join(", ") : t("plan.none"));
  const picker = h("select", {id: "survivor-select", onchange: (e) => { state.survivor = e.target.value; loadDetail().catch(reportError); }},
    members.map((m) => h("option", {value: m.record_id, selected: m.record_id === plan.survivor_id || null},
                         `#${m.record_id} ${m.name || ""}`.trim())));
  const reason = t(`reason.${plan.survivor_reason}`);
  return h("section", {class: "card plan", "aria-labelledby": "plan-title"},
    h("h3", {id: "plan-title"}, t("plan.title")),
    h("label", {class: "stack"}, h("span", {}, t("plan.survivor")), picker),
    h("p", {class: "muted small", id: "survivor-reason"},
      t("plan.reason", {reason: reason.startsWith("reason.") ? plan.survivor_reason : reason})),
    h("dl", {class: "plan-list"},
      h("dt", {}, t("plan.merge")), h("dd", {}, list(plan.merge_ids)),
      h("dt", {}, t("plan.responsible")), h("dd", {}, plan.responsible_user_id || t("plan.nobody")),
      h("dt", {}, t("plan.leads")), h("dd", {}, list(plan.lead_ids)),
      h("dt", {}, t("plan.companies")), h("dd", {}, list(plan.company_ids)),
      h("dt", {}, t("plan.keep")), h("dd", {},
        h("span", {class: "block"}, plan.keep.name || "—"),
        h("span", {class: "block muted"}, [...plan.keep.phones, ...plan.keep.emails].join(", ")))));
}
