// The review page: every read and every decision goes through the public /v1 API with the account's key.
"use strict";

const {t} = window.i18n;

const KEY_STORAGE = "crm-dedup.key";     // sessionStorage: the key lives as long as the tab
const LANG_STORAGE = "crm-dedup.lang";   // localStorage: a language choice is kept across visits
const PAGE_SIZE = 50;
const POLL_MS = 250;
const SINGULAR = {contacts: "contact", companies: "company"};
const PLURAL = {contact: "contacts", company: "companies"};
// the page lives at <root>/ui/, the API at <root>/v1/: relative, so a path prefix in front keeps working
const ROOT = new URL("../", window.location.href);

const state = {
  key: null,
  tab: "review",
  filters: {entity: "", status: "open", min_score: "", max_score: "", needs_review: ""},
  groups: [],
  nextCursor: null,
  selected: -1,
  detail: null,
  records: {},
  pairIndex: 0,
  memberId: null,
  survivor: null,
  undo: [],
  detailToken: 0,
  listToken: 0,
  scanning: false,
  lastScan: null,
};

// --- small helpers -----------------------------------------------------------------------------------

const $ = (selector) => document.querySelector(selector);

// Builds DOM nodes; text always goes in as text, so names from the CRM never become markup.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("aria-") && typeof value === "boolean") {
      el.setAttribute(name, String(value));  // aria states are "true"/"false", never absent
      continue;
    }
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "style") el.setAttribute("style", value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function percent(p) {
  const digits = p > 0.99 && p < 1 ? 2 : 1;
  return new Intl.NumberFormat(i18n.lang(), {style: "percent", maximumFractionDigits: digits}).format(p);
}

function signed(weight) {
  return new Intl.NumberFormat(i18n.lang(), {minimumFractionDigits: 1, maximumFractionDigits: 1,
                                             signDisplay: "exceptZero"}).format(weight);
}

function dateText(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleDateString(i18n.lang());
}

let toastTimer = null;
function toast(text, kind = "info") {
  const el = $("#toast");
  el.textContent = text;
  el.className = `toast ${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

// --- the API -----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, {method = "GET", body} = {}) {
  const headers = {"Authorization": `Bearer ${state.key || ""}`, "Accept": "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(new URL(path.replace(/^\//, ""), ROOT), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    // problem+json (RFC 9457): `detail`, and for input problems `errors` naming each field
    const detail = data && data.errors && data.errors.length
      ? data.errors.map((e) => (e.field ? `${e.field}: ${e.reason}` : e.reason)).join("; ")
      : (data && data.detail) || response.statusText;
    if (response.status === 401) askForKey(t("key.bad", {detail}));
    throw new ApiError(response.status, detail);
  }
  return data;
}

function query(params) {
  const parts = Object.entries(params).filter(([, v]) => v !== "" && v !== null && v !== undefined);
  return parts.length ? "?" + new URLSearchParams(parts).toString() : "";
}

function reportError(error) {
  if (error instanceof ApiError && error.status === 401) return;  // the key dialog says it
  toast(t("error", {detail: error.message}), "error");
}

// --- the key -----------------------------------------------------------------------------------------

function keyFromFragment() {
  // #key=... lets a link open the page signed in; the fragment never reaches a server or a log
  const match = window.location.hash.match(/(?:^#|&)key=([^&]+)/);
  if (!match) return null;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  return decodeURIComponent(match[1]);
}

function askForKey(message = "") {
  const dialog = $("#key-dialog");
  $("#key-error").textContent = message;
  if (!dialog.open) dialog.showModal();
  $("#key-input").focus();
}

async function useKey(key) {
  if (!/^[\x21-\x7e]+$/.test(key.trim())) {
    // an HTTP header carries only visible ASCII (RFC 9110 §5.5); fetch would throw on anything else
    askForKey(t("key.bad", {detail: t("key.ascii")}));
    return false;
  }
  state.key = key.trim();
  const response = await fetch(new URL("v1/whoami", ROOT), {headers: {"Authorization": `Bearer ${state.key}`}});
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    sessionStorage.removeItem(KEY_STORAGE);
    askForKey(t("key.bad", {detail: data.detail || response.statusText}));
    return false;
  }
  sessionStorage.setItem(KEY_STORAGE, state.key);
  const dialog = $("#key-dialog");
  if (dialog.open) dialog.close();
  return true;
}

// --- groups list -------------------------------------------------------------------------------------

function listParams() {
  const f = state.filters;
  const score = (v) => (v === "" ? "" : String(Math.min(100, Math.max(0, Number(v))) / 100));
  return {entity: f.entity, status: f.status, min_score: score(f.min_score), max_score: score(f.max_score),
          needs_review: f.needs_review};
}

async function loadGroups({keep = null, append = false} = {}) {
  const token = ++state.listToken;
  const params = listParams();
  const limit = append ? PAGE_SIZE : Math.max(PAGE_SIZE, state.groups.length);
  const [page, total, left] = await Promise.all([
    api("v1/groups" + query({...params, limit, cursor: append ? state.nextCursor : ""})),
    api("v1/groups/summary" + query(params)),
    api("v1/groups/summary" + query({entity: params.entity, status: "open", needs_review: "true"})),
  ]);
  if (token !== state.listToken) return;
  state.groups = append ? state.groups.concat(page.items) : page.items;
  state.nextCursor = page.next_cursor;
  state.total = total;
  state.left = left;
  renderCounts();
  renderList();
  if (append) return;
  // after a decision the selected group may be gone: stay on its place in the list
  let index = keep ? state.groups.findIndex((g) => g.group_id === keep.groupId) : -1;
  if (index < 0 && keep) index = Math.min(keep.index, state.groups.length - 1);
  if (index < 0 && state.groups.length) index = 0;
  await select(index, {sameGroup: keep && index >= 0 && state.groups[index].group_id === keep.groupId});
}

function renderCounts() {
  if (!state.left) return;
  $("#left-count").textContent = t("left", {groups: state.left.groups, groups_word: i18n.groupWord(state.left.groups),
                                            records: state.left.records});
  $("#shown-count").textContent = t("shown", {shown: state.groups.length, total: state.total.groups});
}

function renderList() {
  const list = $("#group-list");
  list.replaceChildren();
  if (!state.groups.length) list.append(h("li", {class: "empty"}, t("groups.empty")));
  state.groups.forEach((g, i) => {
    const names = g.names.filter(Boolean);
    list.append(h("li", {
      id: `group-${g.group_id}`, role: "option", class: "group-item", "aria-selected": i === state.selected,
      // by id, not by index: a click on a list that is being replaced still picks the group clicked
      dataset: {groupId: g.group_id, index: i}, onclick: () => select(state.groups.findIndex((x) => x.group_id === g.group_id))},
      h("span", {class: "group-names"}, names.length ? names.slice(0, 2).join(" · ") : g.record_ids.join(", ")),
      h("span", {class: "group-meta"},
        h("span", {class: "score"}, percent(g.group_score)),
        h("span", {}, `${t("entity." + g.entity)} · ${t("group.records", {n: g.size})}`),
        g.needs_review ? h("span", {class: "badge warn"}, t("group.needs_review")) : null,
        g.status === "merged" ? h("span", {class: "badge"}, t("group.merged")) : null)));
  });
  $("#more-button").hidden = !state.nextCursor;
  list.setAttribute("aria-activedescendant", state.selected >= 0 ? `group-${state.groups[state.selected].group_id}` : "");
}

async function select(index, {sameGroup = false} = {}) {
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

async function loadDetail() {
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

function liveMembers(detail) {
  return detail.members.filter((m) => detail.status === "merged" || (!m.deleted && !m.merged_into));
}

// --- one group ---------------------------------------------------------------------------------------

function renderDetail() {
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

function fieldLabel(field) {
  const key = `cmp.${field}`;
  const text = t(key);
  return text === key ? field : text;
}

function renderPairs(detail) {
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

// --- decisions ---------------------------------------------------------------------------------------

function current() {
  const detail = state.detail;
  return detail && detail.status === "open" ? detail : null;
}

async function decide(body) {
  const stored = await api("v1/feedback", {method: "POST", body});
  const pairs = stored.decisions.map((d) => ({entity: d.entity, left_id: d.left_id, right_id: d.right_id}));
  state.undo.push(pairs);
  return stored;
}

async function afterDecision(message) {
  toast(message, "ok");
  const keep = state.selected >= 0 ? {groupId: state.groups[state.selected].group_id, index: state.selected} : null;
  await loadGroups({keep});
}

async function markNotDuplicate() {
  const detail = current();
  const pair = detail && detail.pairs[state.pairIndex];
  if (!pair) return;
  await decide({entity: detail.entity, left_id: pair.left_id, right_id: pair.right_id, decision: "not_duplicate",
                group_id: detail.group_id});
  await afterDecision(t("done.not_duplicate", {left: pair.left_id, right: pair.right_id}));
}

async function splitOff() {
  const detail = current();
  if (!detail || !state.memberId) return;
  const id = state.memberId;
  await decide({entity: detail.entity, group_id: detail.group_id, record_id: id, decision: "not_duplicate"});
  state.memberId = null;
  await afterDecision(t("done.split", {id}));
}

async function markDuplicates() {
  const detail = current();
  if (!detail) return;
  const ids = liveMembers(detail).map((m) => m.record_id);
  const decisions = [];
  for (let i = 0; i < ids.length; i++) {
    for (let j = i + 1; j < ids.length; j++) {
      decisions.push({entity: detail.entity, left_id: ids[i], right_id: ids[j], decision: "duplicate",
                      group_id: detail.group_id});
    }
  }
  if (!decisions.length) return;
  const stored = await decide({decisions});
  await afterDecision(t("done.duplicates", {n: stored.stored}));
}

async function undoLast() {
  const pairs = state.undo.pop();
  if (!pairs) {
    toast(t("done.nothing"));
    return;
  }
  try {
    await api("v1/feedback", {method: "POST", body: {decisions: pairs.map((p) => ({...p, decision: "undo"}))}});
  } catch (error) {
    state.undo.push(pairs);  // not undone: it can be tried again
    throw error;
  }
  await afterDecision(t("done.undo", {n: pairs.length}));
}

// --- scan --------------------------------------------------------------------------------------------

async function startScan() {
  if (state.scanning) return;
  state.scanning = true;
  $("#scan-button").disabled = true;
  showProgress({status: "queued", percent: 0});
  try {
    const entity = SINGULAR[state.filters.entity] || null;
    let job = await api("v1/jobs/scan", {method: "POST", body: {entity}});
    while (job.status === "queued" || job.status === "running") {
      showProgress(job);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api(`v1/jobs/${encodeURIComponent(job.job_id)}`);
    }
    showProgress(job);
    if (job.status === "done") await loadGroups();
  } finally {
    state.scanning = false;
    $("#scan-button").disabled = false;
  }
}

function showProgress(job) {
  state.lastScan = job;
  const bar = $("#scan-progress");
  const value = Math.round(job.percent);
  bar.hidden = false;
  bar.setAttribute("aria-valuenow", String(value));
  bar.firstElementChild.style.width = `${value}%`;
  bar.classList.toggle("failed", job.status === "failed");
  const status = $("#scan-status");
  if (job.status === "done" && job.result) {
    status.textContent = t("scan.done", {groups: job.result.groups, pairs: job.result.pairs,
                                         seconds: job.result.seconds.toFixed(1)});
  } else if (job.status === "failed") {
    status.textContent = t("scan.failed", {error: job.error || ""});
  } else {
    status.textContent = job.status === "queued" ? t("scan.queued") : t("scan.running", {percent: value});
  }
}

// --- check -------------------------------------------------------------------------------------------

async function runCheck(event) {
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

function renderCheck() {
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

// --- model -------------------------------------------------------------------------------------------

async function loadModel() {
  const [settings, ...models] = await Promise.all([
    fetch(new URL("ui/settings.json", ROOT)).then((r) => r.json()),
    api("v1/models/current?entity=contact"), api("v1/models/current?entity=company")]);
  $("#mlflow-link").href = settings.mlflow_ui_url;
  state.models = models;
  renderModel();
}

function renderModel() {
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

// --- tabs, language, keys ----------------------------------------------------------------------------

function showTab(name) {
  state.tab = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`#panel-${tab.dataset.tab}`).hidden = !on;
  }
  if (name === "model") loadModel().catch(reportError);
}

function applyLang(lang) {
  i18n.setLang(lang);
  localStorage.setItem(LANG_STORAGE, lang);
  i18n.translatePage();
  renderCounts();
  renderList();
  renderDetail();
  renderCheck();
  renderModel();
  if (state.lastScan) showProgress(state.lastScan);
}

function move(step) {
  if (!state.groups.length) return;
  const next = Math.min(state.groups.length - 1, Math.max(0, state.selected + step));
  if (next !== state.selected) select(next).catch(reportError);
}

const SHORTCUTS = {
  j: () => move(1),
  k: () => move(-1),
  n: markNotDuplicate,
  d: markDuplicates,
  s: splitOff,
  u: undoLast,
};

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]")) return;
  const target = event.target;
  if (target.closest && target.closest("input, select, textarea, [contenteditable]")) return;
  if (event.key === "?") {
    event.preventDefault();
    $("#help-dialog").showModal();
    return;
  }
  const action = SHORTCUTS[event.key];
  if (!action || state.tab !== "review" || !state.key) return;
  event.preventDefault();
  Promise.resolve(action()).catch(reportError);
}

function wire() {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    useKey($("#key-input").value).then((ok) => ok && start()).catch(reportError);
  });
  $("#key-dialog").addEventListener("cancel", (event) => { if (!state.key) event.preventDefault(); });
  $("#key-button").addEventListener("click", () => askForKey());
  $("#lang-button").addEventListener("click", () => applyLang(i18n.lang() === "ru" ? "en" : "ru"));
  $("#help-button").addEventListener("click", () => $("#help-dialog").showModal());
  $("#scan-button").addEventListener("click", () => startScan().catch(reportError));
  $("#more-button").addEventListener("click", () => loadGroups({append: true}).catch(reportError));
  $("#check-form").addEventListener("submit", (event) => runCheck(event).catch(reportError));
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
    tab.addEventListener("keydown", (event) => {
      // arrow keys move between tabs (WAI-ARIA tabs pattern)
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const tabs = [...document.querySelectorAll("[role=tab]")];
      const next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      showTab(next.dataset.tab);
    });
  }
  $("#filters").addEventListener("change", (event) => {
    const field = event.target;
    if (!field.name) return;
    state.filters[field.name] = field.value;
    state.selected = -1;
    loadGroups().catch(reportError);
  });
  document.addEventListener("keydown", onKey);
}

async function start() {
  await loadGroups();
}

function main() {
  i18n.setLang(localStorage.getItem(LANG_STORAGE) || "ru");
  i18n.translatePage();
  wire();
  const key = keyFromFragment() || sessionStorage.getItem(KEY_STORAGE);
  if (!key) {
    askForKey();
    return;
  }
  useKey(key).then((ok) => ok && start()).catch(reportError);
}

main();
