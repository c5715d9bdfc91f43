// The review page's entry: wires the controls, tabs and language, then signs in and loads the groups.
// Every read and every decision goes through the public /v1 API with the account's key.
// The modules import one another in a circle (groups → detail → decisions → groups): safe, because none of
// them calls another at import time, only once main() below has run.

import * as i18n from "./i18n.js";
import {LANG_STORAGE, KEY_STORAGE, state} from "./state.js";
import {$, askForKey} from "./dom.js";
import {keyFromFragment, reportError, useKey} from "./api.js";
import {loadGroups, renderCounts, renderList} from "./groups.js";
import {renderDetail} from "./detail.js";
import {runCheck, renderCheck} from "./check.js";
import {loadModel, renderModel} from "./model.js";
import {showProgress, startScan} from "./scan.js";
import {onKey} from "./keys.js";

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

// #group=ID: the link in a note crm-dedup wrote in amoCRM opens that group (when the list shows it); read
// before the key is taken from the fragment, which clears it
const linkedGroup = (window.location.hash.match(/(?:^#|&)group=([^&]+)/) || [])[1];

async function start() {
  const groupId = linkedGroup ? decodeURIComponent(linkedGroup) : null;
  await loadGroups({keep: groupId ? {groupId, index: 0} : null});
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
