// The groups list on the left: filters to query, the list itself and the counts above it.

import * as i18n from "./i18n.js";
import {t} from "./i18n.js";
import {PAGE_SIZE, state} from "./state.js";
import {$, h, percent} from "./dom.js";
import {api, query} from "./api.js";
import {select} from "./detail.js";

function listParams() {
  const f = state.filters;
  const score = (v) => (v === "" ? "" : String(Math.min(100, Math.max(0, Number(v))) / 100));
  return {entity: f.entity, status: f.status, min_score: score(f.min_score), max_score: score(f.max_score),
          needs_review: f.needs_review};
}

export async function loadGroups({keep = null, append = false} = {}) {
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

export function renderCounts() {
  if (!state.left) return;
  $("#left-count").textContent = t("left", {groups: state.left.groups, groups_word: i18n.groupWord(state.left.groups),
                                            records: state.left.records});
  $("#shown-count").textContent = t("shown", {shown: state.groups.length, total: state.total.groups});
}

export function renderList() {
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
