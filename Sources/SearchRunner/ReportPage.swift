/// The report's page: inline CSS, the data as JSON, and a small script that draws SVG plots and the table.
/// No network access: everything is in the file.
enum ReportPage {
    static let template = #"""
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{TITLE}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 20px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: #555; } .panel { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
svg { background: #fff; border: 1px solid #ddd; } .mark { cursor: pointer; }
.mark.dominated { fill: #bbb; } .mark.front { fill: #d62728; } .mark.infeasible { fill: none; stroke: #777; stroke-width: 1.2; }
.mark.selected { stroke: #000; stroke-width: 2; } .frontline { fill: none; stroke: #d62728; stroke-width: 1.5; }
table { border-collapse: collapse; font-size: 12px; } th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; }
th { cursor: pointer; background: #f6f6f6; position: sticky; top: 0; } td.arch, th.arch { text-align: left; font-family: monospace; }
tr.front td { color: #b01e1f; } tr:hover td { background: #f4f8ff; cursor: pointer; }
#detail { min-width: 420px; max-width: 720px; } pre { white-space: pre-wrap; word-break: break-all; background: #f8f8f8; padding: 8px; }
.legend span { margin-right: 14px; } .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 5px; }
</style>
</head>
<body>
<h1 id="title"></h1>
<div class="meta" id="meta"></div>
<details><summary>configuration</summary><pre id="config"></pre></details>

<h2>Pareto plot</h2>
<div>x <select id="xaxis"></select> y <select id="yaxis"></select>
<span class="legend"><span><i class="swatch" style="background:#d62728"></i>frontier (stored)</span><span><i class="swatch" style="background:#bbb"></i>dominated</span><span><i class="swatch" style="border:1px solid #777"></i>infeasible</span></span></div>
<div class="panel"><svg id="pareto" width="640" height="420"></svg><div id="detail"><p>Click a candidate for its figures and per-layer cost.</p></div></div>

<h2>Search progress</h2>
<div class="panel"><svg id="progress" width="640" height="300"></svg></div>
<p class="meta" id="progressnote"></p>

<div id="gridsection" hidden>
<h2>Compound-scaling grid</h2>
<div class="panel"><svg id="grid-ab" width="300" height="260"></svg><svg id="grid-ag" width="300" height="260"></svg><svg id="grid-bg" width="300" height="260"></svg></div>
<div class="panel"><svg id="family" width="460" height="300"></svg></div>
</div>

<h2>Candidates</h2>
<div><button id="prev">&lt;</button> <span id="page"></span> <button id="next">&gt;</button></div>
<table id="table"><thead></thead><tbody></tbody></table>

<pre id="selftest" hidden></pre>
<script type="application/json" id="data">{{DATA}}</script>
<script>
"use strict";
const errors = [];
window.addEventListener("error", e => { errors.push(String(e.message)); });
const D = JSON.parse(document.getElementById("data").textContent);
const NS = "http://www.w3.org/2000/svg";
// The metric table (D.metrics) names the columns of each row: id, status, one value per metric, then the rest.
const COLS = ["id", "status"].concat(D.metrics.map(m => m.key), ["resolution", "front", "feasible", "alpha", "beta", "gamma", "arch"]);
const C = Object.fromEntries(COLS.map((name, i) => [name, i]));
const rows = D.rows.map(r => { const o = {}; COLS.forEach((name, i) => { o[name] = r[i]; });
  o.arch = String(r[C.arch]).split(".").map(i => D.blocks[+i]).join(";"); return o; });
const byId = new Map(rows.map(r => [r.id, r]));
const METRICS = Object.fromEntries(D.metrics.map(m => [m.name,
  { label: m.label, key: m.key, scale: m.scale, get: r => r[m.key] == null ? null : m.scale * r[m.key], better: m.better }]));
METRICS.resolution = { label: "resolution px", key: "resolution", scale: 1, get: r => r.resolution, better: "min" };
const available = Object.keys(METRICS).filter(k => rows.some(r => METRICS[k].get(r) != null));
const objectiveNames = D.run.objectives.map(o => o.split(":")[0]).filter(o => METRICS[o]);

function fmt(v) {
  if (v == null) return "-";
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(2) + "G"; if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(1) + "K"; if (Number.isInteger(v)) return String(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
}
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e); return e;
}
function scale(values, lo, hi, linear) {
  const finite = values.filter(v => v != null && isFinite(v));
  let a = Math.min(...finite), b = Math.max(...finite);
  if (!finite.length) { a = 0; b = 1; }
  const log = !linear && a > 0 && b / a > 20;
  const f = v => log ? Math.log10(v) : v;
  let fa = f(a), fb = f(b); if (fb === fa) { fa -= 0.5; fb += 0.5; }
  const map = v => lo + (f(v) - fa) / (fb - fa) * (hi - lo);
  const ticks = [];
  for (let i = 0; i <= 4; i++) { const t = fa + (fb - fa) * i / 4; ticks.push(log ? Math.pow(10, t) : t); }
  return { map, ticks, log };
}
function axes(svg, W, H, m, sx, sy, xl, yl) {
  el("line", { x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b, stroke: "#000" }, svg);
  el("line", { x1: m.l, y1: m.t, x2: m.l, y2: H - m.b, stroke: "#000" }, svg);
  for (const t of sx.ticks) { const x = sx.map(t); el("line", { x1: x, y1: H - m.b, x2: x, y2: H - m.b + 4, stroke: "#000" }, svg);
    el("text", { x, y: H - m.b + 16, "text-anchor": "middle", "font-size": 10 }, svg).textContent = fmt(t); }
  for (const t of sy.ticks) { const y = sy.map(t); el("line", { x1: m.l - 4, y1: y, x2: m.l, y2: y, stroke: "#000" }, svg);
    el("text", { x: m.l - 6, y: y + 3, "text-anchor": "end", "font-size": 10 }, svg).textContent = fmt(t); }
  el("text", { x: (W + m.l) / 2, y: H - 4, "text-anchor": "middle", "font-size": 12 }, svg).textContent = xl;
  const ty = el("text", { x: 12, y: H / 2, "text-anchor": "middle", "font-size": 12, transform: `rotate(-90 12 ${H / 2})` }, svg);
  ty.textContent = yl;
}
function tooltip(r) {
  return `#${r.id} ${r.status}\n${r.arch}\naccuracy ${r.accuracy == null ? "-" : (100 * r.accuracy).toFixed(1) + "%"}, MACs ${fmt(r.macs)}, params ${fmt(r.params)}\n` +
    `latency ms: roofline ${fmt(r.latency_estimate_ms)}, predicted ${fmt(r.latency_predicted_ms)}, measured ${fmt(r.latency_measured_ms)}; ${r.resolution} px`;
}
let selected = null;
function drawPareto() {
  const svg = document.getElementById("pareto"); svg.innerHTML = "";
  const X = METRICS[document.getElementById("xaxis").value], Y = METRICS[document.getElementById("yaxis").value];
  const W = 640, H = 420, m = { l: 70, r: 20, t: 14, b: 40 };
  const shown = rows.filter(r => r.status === "done" && X.get(r) != null && Y.get(r) != null);
  const sx = scale(shown.map(X.get), m.l, W - m.r), sy = scale(shown.map(Y.get), H - m.b, m.t);
  axes(svg, W, H, m, sx, sy, X.label, Y.label);
  const front = shown.filter(r => r.front).sort((a, b) => X.get(a) - X.get(b));
  if (front.length > 1) el("polyline", { class: "frontline", points: front.map(r => `${sx.map(X.get(r))},${sy.map(Y.get(r))}`).join(" ") }, svg);
  const order = shown.filter(r => !r.front).concat(front);
  for (const r of order) {
    const cls = "mark " + (r.front ? "front" : r.feasible ? "dominated" : "infeasible") + (selected === r.id ? " selected" : "");
    const c = el("circle", { class: cls, cx: sx.map(X.get(r)), cy: sy.map(Y.get(r)), r: r.front ? 4.5 : 3, "data-id": r.id }, svg);
    el("title", {}, c).textContent = tooltip(r);
    c.addEventListener("click", () => show(r.id));
  }
}
function hypervolume(points) {
  // 2-D, both minimised, reference (1, 1) after normalisation.
  const p = points.filter(q => q[0] < 1 && q[1] < 1).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let hv = 0, bestY = 1;
  for (const [x, y] of p) { if (y < bestY) { hv += (1 - x) * (bestY - y); bestY = y; } }
  return hv;
}
function drawProgress() {
  const svg = document.getElementById("progress"); svg.innerHTML = "";
  const W = 640, H = 300, m = { l: 70, r: 60, t: 14, b: 40 };
  const yName = objectiveNames[0] || "macs", Y = METRICS[yName];
  const done = rows.filter(r => r.status === "done" && Y.get(r) != null).sort((a, b) => a.id - b.id);
  const sx = scale(done.map(r => r.id), m.l, W - m.r, true), sy = scale(done.map(Y.get), H - m.b, m.t);
  axes(svg, W, H, m, sx, sy, "candidate", Y.label);
  for (const r of done) el("circle", { cx: sx.map(r.id), cy: sy.map(Y.get(r)), r: 2, fill: r.front ? "#d62728" : "#999" }, svg);
  const note = document.getElementById("progressnote");
  if (objectiveNames.length >= 2) {
    const [A, B] = objectiveNames.slice(0, 2).map(n => METRICS[n]);
    const cost = (M, v) => M.better === "max" ? -v : v;
    const ok = done.filter(r => A.get(r) != null && B.get(r) != null && r.feasible);
    const ca = ok.map(r => cost(A, A.get(r))), cb = ok.map(r => cost(B, B.get(r)));
    const [la, ha, lb, hb] = [Math.min(...ca), Math.max(...ca), Math.min(...cb), Math.max(...cb)];
    const norm = (v, lo, hi) => hi > lo ? (v - lo) / (hi - lo) * 0.9 : 0;
    const pts = [], line = [];
    ok.forEach((r, i) => { pts.push([norm(ca[i], la, ha), norm(cb[i], lb, hb)]); line.push([r.id, hypervolume(pts)]); });
    const hv = scale([0, Math.max(1e-9, ...line.map(q => q[1]))], H - m.b, m.t, true);
    if (line.length > 1) el("polyline", { points: line.map(([id, v]) => `${sx.map(id)},${hv.map(v)}`).join(" "), fill: "none", stroke: "#1f77b4", "stroke-width": 1.5 }, svg);
    for (const t of hv.ticks) el("text", { x: W - m.r + 4, y: hv.map(t) + 3, "font-size": 10, fill: "#1f77b4" }, svg).textContent = t.toFixed(2);
    el("text", { x: W - m.r - 4, y: m.t + 10, "text-anchor": "end", "font-size": 10, fill: "#1f77b4" }, svg).textContent = "hypervolume";
    note.textContent = `Dots: ${Y.label} in candidate order (red: on the stored frontier). Blue: hypervolume of the running frontier of ${objectiveNames.slice(0, 2).join(" and ")} (normalised to the run's ranges, reference 1.0), final ${line.length ? line[line.length - 1][1].toFixed(3) : "-"}.`;
  } else {
    note.textContent = `Dots: ${Y.label} in candidate order (red: on the stored frontier).`;
  }
}
function drawGrid() {
  if (D.run.kind !== "grid") return;
  document.getElementById("gridsection").hidden = false;
  const pts = rows.filter(r => r.alpha != null);
  const acc = pts.map(r => r.accuracy).filter(v => v != null);
  const lo = Math.min(...acc), hi = Math.max(...acc);
  const colour = r => { if (r.accuracy == null) return "#ccc"; const t = hi > lo ? (r.accuracy - lo) / (hi - lo) : 1;
    return `rgb(${Math.round(255 * t)},${Math.round(80 + 60 * (1 - t))},${Math.round(255 * (1 - t))})`; };
  for (const [id, a, b] of [["grid-ab", "alpha", "beta"], ["grid-ag", "alpha", "gamma"], ["grid-bg", "beta", "gamma"]]) {
    const svg = document.getElementById(id), W = 300, H = 260, m = { l: 50, r: 14, t: 14, b: 36 };
    const sx = scale(pts.map(r => r[a]), m.l, W - m.r), sy = scale(pts.map(r => r[b]), H - m.b, m.t);
    axes(svg, W, H, m, sx, sy, a, b);
    for (const r of pts) { const c = el("circle", { cx: sx.map(r[a]), cy: sy.map(r[b]), r: 5, fill: colour(r), stroke: r.front ? "#000" : "none" }, svg);
      el("title", {}, c).textContent = `alpha ${r.alpha}, beta ${r.beta}, gamma ${r.gamma}: accuracy ${r.accuracy == null ? "-" : (100 * r.accuracy).toFixed(1) + "%"}`; }
  }
  if (!D.family) return;
  const svg = document.getElementById("family"), W = 460, H = 300, m = { l: 50, r: 14, t: 24, b: 40 };
  const ph = D.family.phi.filter(p => p[1] != null);
  const sx = scale(ph.map(p => p[0]), m.l, W - m.r), sy = scale(ph.flatMap(p => [p[1], p[2]]), H - m.b, m.t);
  axes(svg, W, H, m, sx, sy, "phi", "FLOPs ratio to phi = 0");
  el("polyline", { points: ph.map(p => `${sx.map(p[0])},${sy.map(p[2])}`).join(" "), fill: "none", stroke: "#999", "stroke-dasharray": "4 3" }, svg);
  el("polyline", { points: ph.map(p => `${sx.map(p[0])},${sy.map(p[1])}`).join(" "), fill: "none", stroke: "#d62728", "stroke-width": 2 }, svg);
  el("text", { x: m.l + 6, y: 14, "font-size": 11 }, svg).textContent =
    `${D.family.base} scaled by alpha ${D.family.point[0]}, beta ${D.family.point[1]}, gamma ${D.family.point[2]}: realised (red) against 2^phi (grey)`;
}
let sortKey = "id", sortDir = 1, page = 0;
const TABLE = ["id", "status"].concat(D.metrics.filter(m => m.stored === "yes" && rows.some(r => r[m.key] != null)).map(m => m.key), ["resolution", "front", "arch"]);
const SCALE = Object.fromEntries(D.metrics.map(m => [m.key, m.scale]));
function drawTable() {
  const head = document.querySelector("#table thead"), body = document.querySelector("#table tbody");
  head.innerHTML = ""; body.innerHTML = "";
  const tr = document.createElement("tr");
  for (const k of TABLE) { const th = document.createElement("th"); th.textContent = k + (sortKey === k ? (sortDir > 0 ? " \u25b2" : " \u25bc") : "");
    if (k === "arch") th.className = "arch";
    th.addEventListener("click", () => { sortDir = sortKey === k ? -sortDir : 1; sortKey = k; page = 0; drawTable(); }); tr.appendChild(th); }
  head.appendChild(tr);
  const sorted = rows.slice().sort((a, b) => { const x = a[sortKey], y = b[sortKey];
    if (x == null) return 1; if (y == null) return -1; return (x < y ? -1 : x > y ? 1 : 0) * sortDir; });
  const per = 50, pages = Math.max(1, Math.ceil(sorted.length / per)); page = Math.min(page, pages - 1);
  document.getElementById("page").textContent = `page ${page + 1} of ${pages} (${sorted.length} candidates)`;
  for (const r of sorted.slice(page * per, page * per + per)) {
    const row = document.createElement("tr"); if (r.front) row.className = "front";
    for (const k of TABLE) { const td = document.createElement("td"); let v = r[k];
      if (SCALE[k] === 100 && v != null) v = (100 * v).toFixed(1) + "%"; else if (k === "front") v = v ? "yes" : ""; else if (typeof v === "number") v = fmt(v);
      td.textContent = v == null ? "-" : v; if (k === "arch") td.className = "arch"; row.appendChild(td); }
    row.addEventListener("click", () => show(r.id)); body.appendChild(row);
  }
}
function show(id) {
  selected = id; const r = byId.get(id), box = document.getElementById("detail");
  box.innerHTML = "";
  const h = document.createElement("h3"); h.textContent = `candidate ${id} (${r.status}${r.front ? ", on the frontier" : ""}${r.feasible ? "" : ", infeasible"})`; box.appendChild(h);
  const pre = document.createElement("pre"); pre.textContent = tooltip(r) + (r.train_seconds == null ? "" : `\ntrained ${r.train_seconds.toFixed(1)} s`); box.appendChild(pre);
  const layers = D.layers[String(id)];
  if (layers) {
    const t = document.createElement("table"); const hr = document.createElement("tr");
    for (const k of ["layer", "params", "MACs", "roofline us", "predicted us"]) { const th = document.createElement("th"); th.textContent = k; hr.appendChild(th); }
    t.appendChild(hr);
    for (const l of layers) { const tr = document.createElement("tr");
      for (const [i, v] of l.entries()) { const td = document.createElement("td"); td.textContent = i === 0 ? v : fmt(v); if (i === 0) td.className = "arch"; tr.appendChild(td); }
      t.appendChild(tr); }
    box.appendChild(t);
  } else {
    const p = document.createElement("p");
    p.textContent = `Per-layer costs are embedded for the frontier and the first candidates; for this one: efsearch estimate --arch '${r.arch}' --resolution ${r.resolution} --per-layer`;
    box.appendChild(p);
  }
  drawPareto();
}
function init() {
  document.getElementById("title").textContent = `efsearch ${D.run.kind} run ${D.run.name}`;
  document.getElementById("meta").textContent = `${D.run.status}, seed ${D.run.seed}, ${rows.length} candidates, objectives ${D.run.objectives.join(", ")}; created ${D.run.created} with efsearch ${D.run.version} on ${D.run.machine}`;
  let config = D.run.config; try { config = JSON.stringify(JSON.parse(config), null, 2); } catch (e) { /* shown as stored */ }
  document.getElementById("config").textContent = `$ ${D.run.command}\n\n${config}`;
  const xs = document.getElementById("xaxis"), ys = document.getElementById("yaxis");
  for (const k of available) { for (const s of [xs, ys]) { const o = document.createElement("option"); o.value = k; o.textContent = METRICS[k].label; s.appendChild(o); } }
  const pick = (want, fallback) => available.includes(want) ? want : available.includes(fallback) ? fallback : available[0];
  ys.value = pick(objectiveNames[0] || "accuracy", "params");
  xs.value = pick(objectiveNames[1] || "macs", "macs");
  if (xs.value === ys.value) xs.value = available.find(k => k !== ys.value) || xs.value;
  xs.addEventListener("change", drawPareto); ys.addEventListener("change", drawPareto);
  document.getElementById("prev").addEventListener("click", () => { page = Math.max(0, page - 1); drawTable(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; drawTable(); });
  drawPareto(); drawProgress(); drawGrid(); drawTable();
}
try { init(); } catch (e) { errors.push(String(e && e.stack || e)); }
const marks = document.querySelectorAll("#pareto .mark");
document.getElementById("selftest").textContent = JSON.stringify({
  candidates: rows.length, done: rows.filter(r => r.status === "done").length, marks: marks.length,
  frontier: Array.from(document.querySelectorAll("#pareto .mark.front")).map(m => +m.getAttribute("data-id")).sort((a, b) => a - b),
  errors });
</script>
</body>
</html>
"""#
}
