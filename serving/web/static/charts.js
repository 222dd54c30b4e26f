// Draws every <canvas data-chart="bar|line|scatter" data-labels=... data-values=...>
// with the packaged Chart.js, on load and after each HTMX swap. No inline script: the
// pages' Content-Security-Policy allows scripts from this site only.
(function () {
  "use strict";
  function draw(canvas) {
    if (canvas.dataset.drawn || typeof Chart === "undefined") return;
    canvas.dataset.drawn = "1";
    var kind = canvas.dataset.chart;
    var labels = JSON.parse(canvas.dataset.labels || "[]");
    var values = JSON.parse(canvas.dataset.values || "[]");
    var label = canvas.dataset.label || "";
    var dataset = { label: label, data: values, backgroundColor: "#0b5394", borderColor: "#0b5394" };
    var options = { animation: false, responsive: true, maintainAspectRatio: false,
                    plugins: { legend: { display: false } } };
    if (kind === "scatter") {
      dataset.data = values.map(function (v, i) { return { x: labels[i], y: v }; });
      options.scales = { x: { type: "linear", title: { display: true, text: canvas.dataset.xTitle || "" } },
                         y: { title: { display: true, text: canvas.dataset.yTitle || "" } } };
      new Chart(canvas, { type: "scatter", data: { datasets: [dataset] }, options: options });
      return;
    }
    if (kind === "line") { dataset.stepped = true; dataset.pointRadius = 0; }
    new Chart(canvas, { type: kind, data: { labels: labels, datasets: [dataset] }, options: options });
  }
  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (e) { drawAll(e.target); });
})();
