// Keyboard shortcuts on the review tab (j, k, n, d, s, u and ? for help).

import {state} from "./state.js";
import {$} from "./dom.js";
import {reportError} from "./api.js";
import {select} from "./detail.js";
import {markDuplicates, markNotDuplicate, splitOff, undoLast} from "./decisions.js";

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

export function onKey(event) {
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
