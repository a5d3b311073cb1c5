// Operations: small charts (spend, job durations, provider rates: ops_charts.js), provider
// health, job runs with progress, LLM spend vs budget, backfill form, the weekly reports (admin).

import { ApiError, api, apiKey, enc } from "./api.js";
import { fill, h, table } from "./dom.js";
import { opsCharts } from "./ops_charts.js";
import { money, t, when } from "./i18n.js";

const REFRESH_MS = 5000;
const POLL_MS = 1000;
const CAPABILITIES = ["prices", "news", "disclosures"];
const FINISHED = new Set(["SUCCEEDED", "FAILED", "STOPPED"]);

/** The operations page in `view`; returns {onEvent, refresh, dispose}. */
export function opsPage(view, app) {
  const providers = h("div", { id: "providers" }, t("loading"));
  const jobs = h("div", { id: "jobs" }, t("loading"));
  const spend = h("div", { id: "spend" }, t("loading"));
  const progress = h("div", { id: "backfill-progress", "aria-live": "polite" });
  const reports = h("div", { id: "weekly-reports" }, t("loading"));
  const charts = h("div", { id: "ops-charts", class: "opscharts" });
  const timers = new Set();
  let alive = true;
  let watching = null; // the backfill submitted from this page: {traceId, show}
  let jobsSoon = null;

  fill(
    view,
    h("h1", {}, t("ops.title")),
    h("section", { class: "card", "aria-labelledby": "h-opscharts" },
      h("h2", { id: "h-opscharts" }, t("opschart.title")), charts),
    h("section", { class: "card", "aria-labelledby": "h-providers" },
      h("h2", { id: "h-providers" }, t("ops.providers")), providers),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "h-backfill" },
        h("h2", { id: "h-backfill" }, t("bf.title")), backfillForm(), progress),
      h("section", { class: "card", "aria-labelledby": "h-spend" },
        h("h2", { id: "h-spend" }, t("ops.spend")), spend)),
    h("section", { class: "card", "aria-labelledby": "h-jobs" },
      h("h2", { id: "h-jobs" }, t("ops.jobs")), jobs),
    h("section", { class: "card", "aria-labelledby": "h-reports" },
      h("h2", { id: "h-reports" }, t("ops.reports")), reports),
  );

  async function loadProviders() {
    try {
      const data = await api("/providers");
      const rows = Object.values(data.providers).map(providerRow);
      fill(providers, table(null,
        [t("ops.provider"), t("ops.enabled"), t("ops.circuit"), t("ops.budget"),
          t("ops.lastsuccess"), t("ops.lasterror")], rows, { class: "data" }));
    } catch (err) {
      fail(providers, err);
    }
  }

  async function loadJobs() {
    try {
      const data = await api("/jobs?limit=15");
      fill(jobs, data.jobs.length
        ? table(null, [t("ops.kind"), t("ops.status"), t("ops.started"), t("ops.progress"),
          t("ops.error")], data.jobs.map(jobRow), { class: "data" })
        : h("p", { class: "empty" }, t("ops.nojobs")));
    } catch (err) {
      fail(jobs, err);
    }
  }

  async function loadSpend() {
    try {
      const data = await api("/costs");
      const { daily_usd: budget, left_usd: left } = data.budget;
      const spent = Math.max(0, budget - left);
      fill(spend,
        h("p", {}, t("ops.today", { spent: money(spent, "USD"), budget: money(budget, "USD"),
          left: money(left, "USD") })),
        h("meter", { min: 0, max: budget || 1, value: spent, high: (budget || 1) * 0.8,
          "aria-label": t("ops.spend") }),
        data.spend.length
          ? table(null, [t("ops.day"), t("ops.model"), t("ops.calls"), t("ops.cost")],
            data.spend.map((r) => h("tr", {}, h("td", {}, r.day), h("td", {}, r.model),
              h("td", { class: "num" }, r.calls), h("td", { class: "num" }, money(r.cost_usd, "USD")))),
            { class: "data" })
          : h("p", { class: "empty" }, t("ops.nospend")));
    } catch (err) {
      fail(spend, err);
    }
  }

  async function loadReports() {
    try {
      const data = await api("/ops/reports");
      fill(reports, data.reports.length
        ? table(null, [t("ops.report"), t("ops.week"), t("ops.written"), t("ops.size")],
          data.reports.map(reportRow), { class: "data" })
        : h("p", { class: "empty" }, t("ops.noreports")));
    } catch (err) {
      if (err instanceof ApiError && err.status === 403) {
        fill(reports, h("p", { class: "hint" }, t("ops.reportsadmin")));
      } else fail(reports, err);
    }
  }

  function reportRow(r) {
    // The page needs the key, which a plain link would not send: fetch it, then save it.
    const link = h("a", { href: r.url, download: r.name, onclick: (event) => {
      event.preventDefault();
      download(r).catch((err) => app.fail(err));
    } }, r.name);
    const week = r.start ? `${r.start} – ${r.end}` : r.end;
    return h("tr", { dataset: { report: r.name } },
      h("th", { scope: "row" }, link),
      h("td", {}, week),
      h("td", {}, when(r.created_at)),
      h("td", { class: "num" }, `${Math.ceil(r.bytes / 1024)} KiB`));
  }

  function fail(el, err) {
    if (el.textContent === t("loading")) fill(el);
    app.fail(err);
  }

  function backfillForm() {
    const today = new Date().toISOString().slice(0, 10);
    const monthAgo = new Date(Date.now() - 90 * 86400e3).toISOString().slice(0, 10);
    const tickers = h("fieldset", { id: "bf-tickers" }, h("legend", {}, t("bf.tickers")));
    app.instruments().then((list) => {
      tickers.append(...list.map((i) => h("label", { class: "check" },
        h("input", { type: "checkbox", name: "tickers", value: i.id, checked: false }),
        i.id)));
    }, (err) => app.fail(err));
    const form = h("form", { id: "backfill-form", class: "stack" },
      tickers,
      h("div", { class: "row" },
        h("label", { for: "bf-start" }, t("bf.start")),
        h("input", { id: "bf-start", name: "start", type: "date", value: monthAgo, required: true }),
        h("label", { for: "bf-end" }, t("bf.end")),
        h("input", { id: "bf-end", name: "end", type: "date", value: today, required: true }),
        h("label", { for: "bf-interval" }, t("bf.interval")),
        h("select", { id: "bf-interval", name: "interval" },
          ["1d", "1h"].map((v) => h("option", { value: v }, v)))),
      h("fieldset", {}, h("legend", {}, t("bf.capabilities")),
        CAPABILITIES.map((c) => h("label", { class: "check" },
          h("input", { type: "checkbox", name: "capabilities", value: c, checked: c === "prices" }),
          t(`cap.${c}`)))),
      h("p", { class: "hint" }, t("bf.admin")),
      h("button", { type: "submit", id: "bf-submit" }, t("bf.submit")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submit(new FormData(form), form.querySelector("button[type=submit]"));
    });
    return form;
  }

  async function submit(data, button) {
    const body = {
      tickers: data.getAll("tickers"),
      start: data.get("start"),
      end: data.get("end"),
      interval: data.get("interval"),
      capabilities: data.getAll("capabilities"),
    };
    if (!body.tickers.length || !body.capabilities.length) {
      return fill(progress, h("p", { class: "error" }, t("bf.pick")));
    }
    button.disabled = true;
    try {
      const { job_id: jobId, trace_id: traceId } = await api("/jobs/backfill", {
        method: "POST",
        body,
        headers: { "Idempotency-Key": idempotencyKey() },
      });
      fill(progress, h("p", {}, t("bf.submitted", { id: jobId })));
      watch(jobId, traceId);
    } catch (err) {
      fill(progress);
      app.fail(err);
    } finally {
      button.disabled = false;
    }
  }

  function watch(jobId, traceId) {
    const bar = h("progress", { id: "bf-bar", max: 1, "aria-label": t("ops.progress") });
    const status = h("p", { id: "bf-status" });
    const detail = h("p", { id: "bf-detail" });
    progress.append(status, bar, detail);
    // `job.progress` events move the bar between polls (the poll has the final word).
    watching = { traceId, show: (done, total) => {
      bar.max = total;
      bar.value = done;
      detail.textContent = t("bf.chunks", { done, total });
    } };
    const poll = async () => {
      timers.delete(handle);
      let job;
      try {
        job = await api(`/jobs/${enc(jobId)}`);
      } catch (err) {
        return app.fail(err);
      }
      if (!alive) return;
      const counts = job.run?.counts ?? {};
      status.textContent = t("bf.status", { status: job.status });
      progress.dataset.status = job.status;
      if (counts.chunks_total) watching.show(counts.chunks_done ?? 0, counts.chunks_total);
      if (job.status === "SUCCEEDED") {
        bar.max = bar.value || 1;
        bar.value = bar.max;
        detail.textContent = `${detail.textContent} ${t("bf.done", { rows: counts.saved ?? 0 })}`;
        loadJobs();
      } else if (FINISHED.has(job.status)) {
        detail.textContent = t("bf.failed", { message: job.run?.error ?? job.message ?? job.status });
        loadJobs();
      } else {
        handle = setTimeout(poll, POLL_MS);
        timers.add(handle);
      }
    };
    let handle = setTimeout(poll, 0);
    timers.add(handle);
  }

  function every(fn, ms) {
    const tick = () => {
      if (!alive) return;
      fn();
      const handle = setTimeout(() => {
        timers.delete(handle);
        tick();
      }, ms);
      timers.add(handle);
    };
    tick();
  }

  every(loadProviders, REFRESH_MS * 2);
  every(loadJobs, REFRESH_MS);
  loadSpend();
  loadReports();
  const chartsView = opsCharts(charts, (err) => app.fail(err));
  return {
    onEvent(event) {
      if (event.type === "job.progress") {
        const p = event.payload ?? {};
        if (watching && p.trace_id === watching.traceId && p.total) watching.show(p.done, p.total);
        clearTimeout(jobsSoon); // a burst of progress events reloads the list once
        jobsSoon = setTimeout(loadJobs, 1000);
      } else if (event.type === "provider.circuit") loadProviders();
    },
    refresh() {
      loadProviders();
      loadJobs();
      loadSpend();
      loadReports();
      chartsView.refresh();
    },
    dispose() {
      alive = false;
      clearTimeout(jobsSoon);
      for (const handle of timers) clearTimeout(handle);
      chartsView.dispose();
    },
  };
}

function providerRow(p) {
  const circuit = p.circuit?.state ?? (p.enabled ? p.error ?? "—" : "—");
  const budget = p.budget
    ? Object.entries(p.budget).filter(([k]) => k !== "paused_s").map(([k, v]) => `${v} (${k})`).join(", ")
    : "—";
  const plan = p.plan ? ` · ${t("ops.plan", { plan: p.plan })}` : "";
  const enabled = (p.enabled ? t("yes") : t("ops.disabled", { reason: p.reason ?? "" })) + plan;
  // A spent daily quota holds the circuit open until the provider's reset time.
  const quota = p.quota?.exhausted ? t("ops.quota", { until: when(p.quota.reset_at) }) : null;
  return h("tr", { dataset: { provider: p.provider } },
    h("th", { scope: "row" }, p.provider),
    h("td", {}, enabled),
    h("td", { class: `circuit ${circuit}` }, quota ? `${circuit} · ${quota}` : circuit),
    h("td", {}, budget),
    h("td", {}, when(p.last_success_at)),
    h("td", { class: p.last_error ? "error-text" : "" }, p.last_error ? describe(p.last_error) : "—"));
}

function describe(error) {
  if (typeof error === "string") return error;
  return [error.kind ?? error.type, error.message, error.at ? when(error.at) : null]
    .filter(Boolean).join(": ");
}

function jobRow(run) {
  const c = run.counts ?? {};
  const cell = c.chunks_total
    ? [h("progress", { max: c.chunks_total, value: c.chunks_done ?? 0 }), ` ${c.chunks_done ?? 0}/${c.chunks_total}`]
    : Object.entries(c).slice(0, 3).map(([k, v]) => `${k} ${v}`).join(", ") || "—";
  return h("tr", { dataset: { status: run.status } },
    h("td", {}, run.kind),
    h("td", {}, run.status),
    h("td", {}, when(run.started_at)),
    h("td", {}, cell),
    h("td", { class: "error-text" }, run.error ?? ""));
}

async function download(report) {
  const response = await fetch(report.url, { headers: { Authorization: `Bearer ${apiKey()}` } });
  if (!response.ok) throw new ApiError(response.status, "http_error", response.statusText);
  const url = URL.createObjectURL(await response.blob());
  const a = h("a", { href: url, download: report.name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
