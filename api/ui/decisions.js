// The reviewer's decisions sent as feedback (not duplicate, duplicates, split off) and their undo.

import {t} from "./i18n.js";
import {state} from "./state.js";
import {toast} from "./dom.js";
import {api} from "./api.js";
import {loadGroups} from "./groups.js";
import {liveMembers} from "./detail.js";

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

export async function markNotDuplicate() {
  const detail = current();
  const pair = detail && detail.pairs[state.pairIndex];
  if (!pair) return;
  await decide({entity: detail.entity, left_id: pair.left_id, right_id: pair.right_id, decision: "not_duplicate",
                group_id: detail.group_id});
  await afterDecision(t("done.not_duplicate", {left: pair.left_id, right: pair.right_id}));
}

export async function splitOff() {
  const detail = current();
  if (!detail || !state.memberId) return;
  const id = state.memberId;
  await decide({entity: detail.entity, group_id: detail.group_id, record_id: id, decision: "not_duplicate"});
  state.memberId = null;
  await afterDecision(t("done.split", {id}));
}

export async function markDuplicates() {
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

export async function undoLast() {
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
