// batchacct dashboard: draws the JSON of /api/v1/charts/{name} as inline SVG (no library).
// A chart: {name, title, x_label, y_label, unit, kind: stacked|bar|line|histogram, x, series, notes}.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const W = 560;
  const H = 300;
  const M = { left: 64, right: 14, top: 14, bottom: 66 };
  const PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  ];

  function svgEl(name, attrs, parent) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    if (parent) parent.appendChild(el);
    return el;
  }

  function htmlEl(name, attrs, text) {
    const el = document.createElement(name);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function color(i) {
    return PALETTE[i % PALETTE.length];
  }

  function formatNumber(v) {
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + "G";
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
    if (a >= 100 || a === 0) return String(Math.round(v));
    return String(Number(v.toPrecision(3)));
  }

  // Round tick steps (1, 2, 5 x 10^n) from 0 to at least max.
  function ticks(max) {
    if (!(max > 0)) return [0, 1];
    const raw = max / 5;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let t = 0; t < max + step / 2; t += step) out.push(Number(t.toPrecision(12)));
    if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
    return out;
  }

  function xLabel(value) {
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value)) return value.slice(0, 10);
    if (typeof value === "number") return formatNumber(value);
    return String(value);
  }

  function frame(svg, chart, yTicks, yMax) {
    const plotH = H - M.top - M.bottom;
    const y = (v) => M.top + plotH - (v / yMax) * plotH;
    for (const t of yTicks) {
      svgEl("line", { class: "grid", x1: M.left, x2: W - M.right, y1: y(t), y2: y(t) }, svg);
      const label = svgEl("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, svg);
      label.textContent = formatNumber(t);
    }
    svgEl("line", { class: "axis", x1: M.left, x2: M.left, y1: M.top, y2: M.top + plotH }, svg);
    svgEl("line", { class: "axis", x1: M.left, x2: W - M.right, y1: M.top + plotH, y2: M.top + plotH }, svg);
    const yTitle = svgEl("text", {
      class: "axis-title", "text-anchor": "middle",
      transform: `translate(14 ${M.top + plotH / 2}) rotate(-90)`,
    }, svg);
    yTitle.textContent = chart.unit && !chart.y_label.includes(chart.unit)
      ? `${chart.y_label} (${chart.unit})` : chart.y_label;
    const xTitle = svgEl("text", {
      class: "axis-title", "text-anchor": "middle", x: M.left + (W - M.left - M.right) / 2, y: H - 6,
    }, svg);
    xTitle.textContent = chart.x_label;
    return y;
  }

  // Category labels under the x axis, thinned out when there are many.
  function categoryLabels(svg, labels, xCenter) {
    const every = Math.max(1, Math.ceil(labels.length / 14));
    const base = H - M.bottom;
    labels.forEach((text, i) => {
      if (i % every !== 0) return;
      const x = xCenter(i);
      const el = svgEl("text", {
        "text-anchor": "end", transform: `translate(${x + 3} ${base + 12}) rotate(-35)`,
      }, svg);
      el.textContent = text;
    });
  }

  function tooltip(el, text) {
    svgEl("title", {}, el).textContent = text;
  }

  function drawBars(svg, chart, stacked) {
    const labels = chart.x.map(xLabel);
    const n = labels.length;
    const series = chart.series;
    let yMax = 0;
    for (let i = 0; i < n; i++) {
      if (stacked) yMax = Math.max(yMax, series.reduce((sum, s) => sum + Math.max(0, s.values[i] || 0), 0));
      else for (const s of series) yMax = Math.max(yMax, s.values[i] || 0);
    }
    const yTicks = ticks(yMax);
    const top = yTicks[yTicks.length - 1] || 1;
    const y = frame(svg, chart, yTicks, top);
    const plotW = W - M.left - M.right;
    const slot = plotW / Math.max(1, n);
    const barW = Math.max(1, slot * 0.72);
    const xCenter = (i) => M.left + slot * (i + 0.5);
    for (let i = 0; i < n; i++) {
      let base = 0;
      series.forEach((s, k) => {
        const v = s.values[i] || 0;
        if (v <= 0) return;
        let x = xCenter(i) - barW / 2;
        let w = barW;
        let y0 = base;
        if (!stacked) {
          w = barW / series.length;
          x += k * w;
          y0 = 0;
        }
        const rect = svgEl("rect", {
          class: "bar", x, y: y(y0 + v), width: Math.max(0.5, w - 0.5),
          height: Math.max(0.5, y(y0) - y(y0 + v)), fill: color(k),
        }, svg);
        tooltip(rect, `${s.label}, ${labels[i]}: ${formatNumber(v)} ${chart.unit}`);
        if (stacked) base += v;
      });
    }
    categoryLabels(svg, labels, xCenter);
  }

  function drawHistogram(svg, chart) {
    const edges = chart.x.map(Number);
    const bins = Math.max(0, edges.length - 1);
    let yMax = 0;
    for (const s of chart.series) for (const v of s.values) yMax = Math.max(yMax, v || 0);
    const yTicks = ticks(yMax);
    const y = frame(svg, chart, yTicks, yTicks[yTicks.length - 1] || 1);
    const plotW = W - M.left - M.right;
    const slot = plotW / Math.max(1, bins);
    const k = chart.series.length || 1;
    chart.series.forEach((s, j) => {
      for (let i = 0; i < bins; i++) {
        const v = s.values[i] || 0;
        if (v <= 0) continue;
        const w = slot / k;
        const rect = svgEl("rect", {
          class: "bar", x: M.left + slot * i + w * j + 0.5, y: y(v), width: Math.max(0.5, w - 1),
          height: Math.max(0.5, y(0) - y(v)), fill: color(j),
        }, svg);
        tooltip(rect, `${s.label}, [${formatNumber(edges[i])}, ${formatNumber(edges[i + 1])}): ${formatNumber(v)} ${chart.unit}`);
      }
    });
    // Edge labels at bin boundaries.
    const every = Math.max(1, Math.ceil(edges.length / 12));
    edges.forEach((edge, i) => {
      if (i % every !== 0 && i !== edges.length - 1) return;
      const el = svgEl("text", { x: M.left + slot * i, y: H - M.bottom + 14, "text-anchor": "middle" }, svg);
      el.textContent = formatNumber(edge);
    });
  }

  function drawLines(svg, chart) {
    const labels = chart.x.map(xLabel);
    const n = labels.length;
    let yMax = 0;
    for (const s of chart.series) for (const v of s.values) yMax = Math.max(yMax, v || 0);
    const yTicks = ticks(yMax);
    const y = frame(svg, chart, yTicks, yTicks[yTicks.length - 1] || 1);
    const plotW = W - M.left - M.right;
    const xCenter = n > 1 ? (i) => M.left + (plotW * i) / (n - 1) : () => M.left + plotW / 2;
    chart.series.forEach((s, k) => {
      const points = s.values.map((v, i) => `${xCenter(i).toFixed(1)},${y(v || 0).toFixed(1)}`);
      svgEl("polyline", {
        class: "series-line", points: points.join(" "), fill: "none", stroke: color(k), "stroke-width": 2,
      }, svg);
      s.values.forEach((v, i) => {
        const dot = svgEl("circle", { class: "point", cx: xCenter(i), cy: y(v || 0), r: 2.5, fill: color(k) }, svg);
        tooltip(dot, `${s.label}, ${labels[i]}: ${formatNumber(v || 0)} ${chart.unit}`);
      });
    });
    categoryLabels(svg, labels, xCenter);
  }

  function legend(chart) {
    const list = htmlEl("ul", { class: "legend", "aria-label": "legend" });
    chart.series.forEach((s, k) => {
      const item = htmlEl("li");
      const swatch = svgEl("svg", { viewBox: "0 0 12 12", "aria-hidden": "true" }, item);
      svgEl("rect", { width: 12, height: 12, rx: 2, fill: color(k) }, swatch);
      item.appendChild(htmlEl("span", {}, s.label));
      list.appendChild(item);
    });
    return list;
  }

  // Replace the content of `figure` with the chart.
  function draw(figure, chart) {
    figure.replaceChildren();
    figure.appendChild(htmlEl("h3", {}, chart.title));
    const hasData = chart.series.some((s) => s.values.some((v) => v));
    if (!hasData) {
      figure.appendChild(htmlEl("p", { class: "empty" }, "No jobs match the filters."));
    } else {
      const svg = svgEl("svg", {
        viewBox: `0 0 ${W} ${H}`, role: "img",
        "aria-label": `${chart.title}: ${chart.y_label} (${chart.unit}) by ${chart.x_label}`,
      });
      if (chart.kind === "stacked") drawBars(svg, chart, true);
      else if (chart.kind === "bar") drawBars(svg, chart, false);
      else if (chart.kind === "histogram") drawHistogram(svg, chart);
      else drawLines(svg, chart);
      figure.appendChild(svg);
      figure.appendChild(legend(chart));
    }
    if (chart.notes && chart.notes.length) {
      const notes = htmlEl("ul", { class: "notes" });
      for (const note of chart.notes) notes.appendChild(htmlEl("li", {}, note));
      figure.appendChild(notes);
    }
  }

  window.BatchacctCharts = { draw, formatNumber };
})();
