// Clause matrix filters. Rows are server-rendered; each filter pass reads the controls once,
// then walks the rows' precomputed keys and only writes `hidden` where it changes: one linear
// pass, no layout reads, so the browser lays out once afterwards.
(() => {
  "use strict";
  const started = performance.now();
  const timing = (window.ballastTiming = { initMs: 0, filterMs: 0, rows: 0, shown: 0 });
  const form = document.getElementById("filters");
  const body = document.querySelector("#clauses .rows");
  const shown = document.getElementById("shown");
  const split = (value) => (value ? value.split(" ") : []);
  const rows = Array.from(body.children, (el) => ({
    el,
    role: el.dataset.role,
    level: el.dataset.level,
    area: el.dataset.area,
    features: split(el.dataset.f),
    profiles: split(el.dataset.p),
    tokens: new Set(split(el.dataset.v)),
    text: (el.id.slice(2) + " " + el.children[1].textContent).toLowerCase(),
  }));
  timing.rows = rows.length;
  // The matrix header sticks below the sticky filter bar: one layout read, at start-up.
  document.documentElement.style.setProperty("--filters", form.offsetHeight + "px");

  function apply() {
    const start = performance.now();
    const f = Object.fromEntries(new FormData(form));
    const token = f.verdict ? (f.impl || "*") + "." + f.verdict : "";
    const query = (f.q || "").trim().toLowerCase();
    let count = 0;
    for (const r of rows) {
      const ok =
        (!f.role || r.role === f.role) &&
        (!f.level || r.level === f.level) &&
        (!f.area || r.area === f.area) &&
        (!f.feature || r.features.includes(f.feature)) &&
        (!f.profile || r.profiles.includes(f.profile)) &&
        (!token || r.tokens.has(token)) &&
        (!query || r.text.includes(query));
      if (r.el.hidden === ok) r.el.hidden = !ok;
      if (ok) count++;
    }
    shown.textContent = count + " of " + rows.length + " clauses";
    timing.shown = count;
    timing.filterMs = performance.now() - start;
  }

  form.addEventListener("change", apply); // selects
  form.elements.q.addEventListener("input", apply); // search, as you type
  form.addEventListener("reset", () => setTimeout(apply));
  form.addEventListener("submit", (event) => event.preventDefault());

  function openTarget() {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") target.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  apply();
  timing.initMs = performance.now() - started;
})();
