/* GarminSync dashboard behaviour: polling small JSON endpoints, charts, forms.
 * No inline scripts (the Content-Security-Policy forbids them); each page says
 * what it is in <body data-page>, and its parts carry data-* attributes. */
(function () {
  "use strict";

  const POLL_MS = 4000;
  const csrfToken = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function fmtNumber(n) { return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"); }
  function fmtWhen(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (isNaN(d)) return "—";
    const p = (x) => String(x).padStart(2, "0");
    return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
  }
  const STATE_CLASSES = {
    downloaded: "success", missing: "secondary", queued: "info", downloading: "primary", failed: "danger",
    no_file: "light", success: "success", partial: "warning", error: "danger", running: "primary",
  };
  function badge(state) {
    const span = document.createElement("span");
    span.className = "badge text-bg-" + (STATE_CLASSES[state] || "secondary");
    span.dataset.state = state;
    span.textContent = String(state).replace("_", " ");
    return span;
  }
  function setText(root, selector, value) {
    root.querySelectorAll(selector).forEach((el) => { el.textContent = value; });
  }
  function setPercent(el, pct) {
    const value = Math.max(0, Math.min(100, Number(pct) || 0));
    el.style.width = value + "%";
    const bar = el.closest('[role="progressbar"]');
    if (bar) bar.setAttribute("aria-valuenow", String(value));
  }

  /* Poll `url` every `ms` while the tab is visible; a 401 means the login expired. */
  function poll(url, ms, onData) {
    let timer = null;
    async function tick() {
      timer = null;
      if (!document.hidden) {
        try {
          const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
          if (res.status === 401) { window.location.reload(); return; }
          if (res.ok) onData(await res.json());
        } catch (err) {
          /* offline for a moment: try again on the next tick */
        }
      }
      timer = window.setTimeout(tick, ms);
    }
    timer = window.setTimeout(tick, ms);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && timer === null) tick();
    });
  }

  /* ---- every page ---- */
  function initCommon() {
    document.querySelectorAll("[data-percent]").forEach((el) => setPercent(el, el.dataset.percent));
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
    document.querySelectorAll("[data-back]").forEach((link) => {
      link.addEventListener("click", (event) => {
        if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
      });
    });
    /* A button shows it is working and cannot be pressed twice. */
    document.querySelectorAll("form[method=post]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (event.defaultPrevented) return;
        form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
      });
    });
  }

  /* ---- dashboard ---- */
  function renderRuns(tbody, runs) {
    tbody.replaceChildren();
    if (!runs.length) {
      const tr = tbody.insertRow();
      const td = tr.insertCell();
      td.colSpan = 7;
      td.className = "text-body-secondary";
      td.textContent = "No sync yet: press “Sync now”.";
      return;
    }
    runs.forEach((run) => {
      const tr = tbody.insertRow();
      const link = document.createElement("a");
      link.href = "/runs/" + run.id;
      link.textContent = run.id;
      tr.insertCell().append(link);
      tr.insertCell().textContent = fmtWhen(run.started_at);
      const trigger = tr.insertCell();
      trigger.className = "d-none d-sm-table-cell";
      trigger.textContent = run.trigger;
      tr.insertCell().append(badge(run.status));
      [run.new, run.downloaded, run.failed].forEach((value, i) => {
        const td = tr.insertCell();
        td.className = "text-end" + (i === 2 ? " d-none d-sm-table-cell" : "");
        td.textContent = value;
      });
    });
  }

  function updateDashboard(data) {
    Object.entries(data.counters).forEach(([key, value]) => setText(document, `[data-counter="${key}"]`, fmtNumber(value)));
    const run = data.current_run;
    document.getElementById("current-run").classList.toggle("d-none", !run);
    document.getElementById("current-run-none").classList.toggle("d-none", !!run);
    if (run) {
      ["id", "trigger", "settled", "queued", "found", "new", "downloaded", "failed"].forEach((key) =>
        setText(document, `[data-run="${key}"]`, run[key]));
      document.getElementById("current-run-link").href = "/runs/" + run.id;
      setPercent(document.getElementById("current-run-bar"), run.percent);
    }
    const job = data.job;
    const jobBox = document.getElementById("job-status");
    jobBox.classList.toggle("d-none", !job);
    if (job) {
      setText(jobBox, '[data-job="kind"]', job.kind);
      setText(jobBox, '[data-job="phase"]', job.running ? `${job.phase} ${job.done}/${job.total}` : job.phase);
      setText(jobBox, '[data-job="error"]', job.error || "");
    }
    renderRuns(document.querySelector("#recent-runs tbody"), data.recent_runs);
    /* The archive moved (a sync is running): redraw the charts, at most every few seconds. */
    if (chartSignature !== null && JSON.stringify(data.counts) !== chartSignature && Date.now() - chartLoadedAt > 3000) {
      reloadChart();
    }
  }

  const CHART_COLORS = { archived: "#198754", missing: "#adb5bd", failed: "#dc3545", no_file: "#6f42c1" };
  const STATE_GROUPS = [
    ["archived", "Archived", ["downloaded"]],
    ["missing", "Missing", ["missing", "queued", "downloading"]],
    ["failed", "Failed", ["failed"]],
    ["no_file", "No file", ["no_file"]],
  ];

  let chartSignature = null;
  let chartLoadedAt = 0;
  let reloadChart = () => {};

  function initCharts() {
    const monthsCanvas = document.getElementById("chart-months");
    const statesCanvas = document.getElementById("chart-states");
    if (!monthsCanvas || !window.Chart) return;
    let months = null;
    let states = null;
    async function load() {
      const res = await fetch(monthsCanvas.dataset.chart, { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const data = await res.json();
      chartSignature = JSON.stringify(data.states);
      chartLoadedAt = Date.now();
      const stateValues = STATE_GROUPS.map(([, , keys]) => keys.reduce((sum, k) => sum + (data.states[k] || 0), 0));
      if (!states) {
        states = new window.Chart(statesCanvas, {
          type: "doughnut",
          data: {
            labels: STATE_GROUPS.map(([, label]) => label),
            datasets: [{ data: stateValues, backgroundColor: STATE_GROUPS.map(([key]) => CHART_COLORS[key]) }],
          },
          options: { maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
        });
      } else {
        states.data.datasets[0].data = stateValues;
        states.update();
      }
      const labels = data.months.map((m) => m.month);
      const datasets = STATE_GROUPS.map(([key, label]) => ({
        label, data: data.months.map((m) => m[key]), backgroundColor: CHART_COLORS[key], stack: "s",
      }));
      if (!months) {
        months = new window.Chart(monthsCanvas, {
          type: "bar",
          data: { labels, datasets },
          options: {
            maintainAspectRatio: false,
            animation: false,
            scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
            plugins: { legend: { position: "bottom" } },
          },
        });
      } else {
        months.data.labels = labels;
        months.data.datasets.forEach((ds, i) => { ds.data = datasets[i].data; });
        months.update();
      }
    }
    reloadChart = () => load().catch(() => {});
    reloadChart();
    window.setInterval(() => { if (!document.hidden) reloadChart(); }, 60000);
  }

  function initDashboard() {
    const box = document.getElementById("counters");
    poll(box.dataset.poll, POLL_MS, updateDashboard);
    initCharts();
  }

  /* ---- activity detail: follow a queued download until it settles ---- */
  function initActivity() {
    const box = document.getElementById("activity");
    const busy = (state) => state === "queued" || state === "downloading";
    if (!busy(box.dataset.state)) return;
    poll(box.dataset.poll, 2000, (data) => {
      document.getElementById("activity-state").replaceChildren(badge(data.state));
      setText(document, "#attempts", data.attempts);
      setText(document, "#last-error", data.last_error || "—");
      if (!busy(data.state)) window.location.reload();
    });
  }

  /* ---- tasks and system: queue lengths and worker count ---- */
  function initQueues() {
    const box = document.querySelector("[data-poll]");
    if (!box) return;
    poll(box.dataset.poll, 5000, (data) => {
      Object.entries(data.queues || {}).forEach(([queue, length]) => setText(document, `[data-queue="${queue}"]`, fmtNumber(length)));
      setText(document, "#worker-count", (data.workers || []).length);
    });
  }

  /* ---- schedule: explain the cron while it is typed ---- */
  function initSchedule() {
    const input = document.getElementById("cron");
    const preview = document.getElementById("cron-preview");
    const feedback = document.getElementById("cron-feedback");
    let timer = null;
    let seq = 0;
    async function check() {
      const mine = ++seq;
      const value = input.value.trim();
      if (!value) { preview.textContent = ""; return; }
      const res = await fetch(input.dataset.preview + "?cron=" + encodeURIComponent(value), { headers: { Accept: "application/json" } });
      const data = await res.json();
      if (mine !== seq) return;
      if (res.ok && data.valid) {
        input.classList.remove("is-invalid");
        input.classList.add("is-valid");
        preview.replaceChildren();
        const strong = document.createElement("strong");
        strong.textContent = data.description;
        const list = document.createElement("div");
        list.className = "text-body-secondary";
        list.textContent = "Next: " + data.next_runs.map(fmtWhen).join(" · ");
        preview.append(strong, list);
      } else {
        input.classList.remove("is-valid");
        input.classList.add("is-invalid");
        feedback.textContent = data.error || "not a valid cron expression";
        preview.textContent = "";
      }
    }
    input.addEventListener("input", () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => check().catch(() => {}), 250);
    });
    document.querySelectorAll("#presets [data-cron]").forEach((button) => {
      button.addEventListener("click", () => {
        input.value = button.dataset.cron;
        check().catch(() => {});
      });
    });
    check().catch(() => {});
  }

  const PAGES = { dashboard: initDashboard, activity: initActivity, tasks: initQueues, system: initQueues, schedule: initSchedule };

  document.addEventListener("DOMContentLoaded", () => {
    initCommon();
    const init = PAGES[document.body.dataset.page];
    if (init) init();
  });

  window.GarminSync = { csrfToken, poll };
})();
