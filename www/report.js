// Renders a run's report: totals, the per-tensor table and an SVG chart of
// per-tensor SNR against bits per weight. Tensor names come from the file, so
// everything here is built with createElement / textContent (never innerHTML).

const SVG = 'http://www.w3.org/2000/svg';

export const fmtBytes = (n) =>
  n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`;
const fmtNum = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
// The report gives null for an infinite SNR: the tensor is reproduced exactly.
const fmtSnr = (db) => (db === null || db === undefined ? 'exact' : Number.isFinite(db) ? `${db.toFixed(2)} dB` : '∞');

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c); // strings become text nodes
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Totals as a <dl>. */
export function renderTotals(dl, r) {
  const rows = [
    ['Original → compressed', `${fmtBytes(r.rawBytes)} → ${fmtBytes(r.stzBytes)}`],
    // Computed here rather than taken from r.ratio, so it cannot be read the other way round.
    ['Ratio (original / compressed)', r.stzBytes ? `${(r.rawBytes / r.stzBytes).toFixed(3)}× (${((100 * r.stzBytes) / r.rawBytes).toFixed(2)} % of the original)` : '—'],
    ['Bits per weight', fmtNum(r.bitsPerWeight, 3)],
    ['Overall SNR', r.snrDb === null || r.snrDb === undefined ? 'exact (∞)' : fmtSnr(r.snrDb)],
    ['Tensors', String(r.tensors?.length ?? 0)],
  ];
  dl.replaceChildren(...rows.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
}

/** The per-tensor table body. */
export function renderTable(tbody, tensors) {
  const frag = document.createDocumentFragment();
  for (const t of tensors) {
    frag.append(el('tr', {},
      el('th', { scope: 'row' }, String(t.name)),
      el('td', {}, String(t.dtype)),
      el('td', {}, `[${(t.shape ?? []).join(', ')}]`),
      el('td', { class: 'num' }, `${fmtBytes(t.rawBytes)} → ${fmtBytes(t.storedBytes)}`),
      el('td', { class: 'num' }, fmtNum(t.bitsPerWeight, 3)),
      el('td', { class: 'num' }, fmtSnr(t.snrDb)),
      el('td', {}, String(t.codec ?? '')),
      el('td', {}, t.transform == null ? '–' : String(t.transform)),
    ));
  }
  tbody.replaceChildren(frag);
}

// "Nice" axis ticks (1, 2, 5 × 10^k) covering [lo, hi].
function ticks(lo, hi, count = 6) {
  const raw = (hi - lo) / count || 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

/**
 * SNR (y) against bits per weight (x), one dot per tensor (area ∝ its size).
 * Exact tensors (no SNR: lossless or integer) sit on a band at the top.
 */
export function renderChart(svgEl, tensors) {
  const W = 640, H = 320, L = 56, R = 16, T = 28, B = 44;
  const pts = tensors.filter((t) => Number.isFinite(t.bitsPerWeight));
  const finite = pts.map((t) => t.snrDb).filter(Number.isFinite);
  const xMax = Math.max(1, ...pts.map((t) => t.bitsPerWeight)) * 1.05;
  let [yLo, yHi] = finite.length ? [Math.min(...finite), Math.max(...finite)] : [0, 60];
  const pad = Math.max(2, (yHi - yLo) * 0.08);
  yLo = Math.max(0, Math.floor(yLo - pad));
  yHi = Math.ceil(yHi + pad);
  const x = (v) => L + (v / xMax) * (W - L - R);
  const y = (v) => (Number.isFinite(v) ? T + 12 + (1 - (v - yLo) / (yHi - yLo)) * (H - T - B - 12) : T);
  const maxRaw = Math.max(1, ...pts.map((t) => t.rawBytes));

  const nodes = [svg('title', {}, 'Per-tensor SNR against bits/weight')];
  const axes = svg('g', { class: 'axes' });
  axes.append(svg('line', { x1: L, y1: H - B, x2: W - R, y2: H - B }), svg('line', { x1: L, y1: T - 8, x2: L, y2: H - B }));
  for (const v of ticks(0, xMax)) {
    axes.append(svg('line', { class: 'grid', x1: x(v), y1: T - 8, x2: x(v), y2: H - B }),
      svg('text', { x: x(v), y: H - B + 16, 'text-anchor': 'middle' }, String(v)));
  }
  for (const v of ticks(yLo, yHi, 5)) {
    axes.append(svg('line', { class: 'grid', x1: L, y1: y(v), x2: W - R, y2: y(v) }),
      svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  axes.append(
    svg('text', { x: L - 6, y: T + 4, 'text-anchor': 'end' }, 'exact'),
    svg('text', { x: (L + W - R) / 2, y: H - 8, 'text-anchor': 'middle' }, 'bits per weight'),
    svg('text', { x: 14, y: (T + H - B) / 2, 'text-anchor': 'middle', transform: `rotate(-90 14 ${(T + H - B) / 2})` }, 'SNR (dB)'),
  );
  nodes.push(axes);

  const dots = svg('g', { class: 'dots' });
  for (const t of pts) {
    const c = svg('circle', {
      cx: x(t.bitsPerWeight).toFixed(1), cy: y(t.snrDb).toFixed(1),
      r: (2 + 6 * Math.sqrt(t.rawBytes / maxRaw)).toFixed(1),
      class: Number.isFinite(t.snrDb) ? 'lossy' : 'exact',
    });
    c.append(svg('title', {}, `${t.name}: ${fmtNum(t.bitsPerWeight, 3)} bits/weight, SNR ${fmtSnr(t.snrDb)}`));
    dots.append(c);
  }
  nodes.push(dots);
  svgEl.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svgEl.replaceChildren(...nodes);
}
