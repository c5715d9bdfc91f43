// The scan button: start a scan job, poll it and show its progress in the top bar.

import {t} from "./i18n.js";
import {POLL_MS, SINGULAR, state} from "./state.js";
import {$} from "./dom.js";
import {api} from "./api.js";
import {loadGroups} from "./groups.js";

export async function startScan() {
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

export function showProgress(job) {
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
