import type { EvalRow } from './harness.ts';

/**
 * An SVG chart of the threshold sweep: accuracy (left axis, %) and tokens per forward (right
 * axis) against the threshold, one pair of lines per cache mode. Plain SVG, no dependencies.
 */
export function thresholdChart(rows: EvalRow[], title: string): string {
  const W = 640, H = 400, L = 60, R = 60, T = 40, B = 50;
  const swept = rows.filter((r) => r.threshold !== null);
  const caches = [...new Set(swept.map((r) => r.cache))];
  const ths = swept.map((r) => r.threshold!);
  const tMin = Math.min(...ths, 0.4), tMax = Math.max(...ths, 1);
  const tpfMax = Math.max(1, ...swept.map((r) => r.tokensPerForward)) * 1.1;
  const x = (t: number) => L + ((t - tMin) / (tMax - tMin || 1)) * (W - L - R);
  const yAcc = (a: number) => T + (1 - a) * (H - T - B);
  const yTpf = (v: number) => T + (1 - v / tpfMax) * (H - T - B);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="black"/>`,
    `<line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">threshold</text>`,
    `<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">accuracy (%, solid)</text>`,
    `<text x="${W - 14}" y="${H / 2}" transform="rotate(90 ${W - 14} ${H / 2})" text-anchor="middle">tokens per forward (dashed)</text>`,
  ];
  for (let a = 0; a <= 1.0001; a += 0.25) parts.push(`<text x="${L - 6}" y="${yAcc(a) + 4}" text-anchor="end">${Math.round(a * 100)}</text>`);
  for (let i = 0; i <= 4; i++) { const v = (tpfMax * i) / 4; parts.push(`<text x="${W - R + 6}" y="${yTpf(v) + 4}">${v.toFixed(1)}</text>`); }
  for (const t of [...new Set(ths)]) parts.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`);
  caches.forEach((c, i) => {
    const pts = swept.filter((r) => r.cache === c).sort((a, b) => a.threshold! - b.threshold!);
    const col = colors[i % colors.length];
    parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${pts.map((r) => `${x(r.threshold!)},${yAcc(r.accuracy)}`).join(' ')}"/>`);
    parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2" stroke-dasharray="6 4" points="${pts.map((r) => `${x(r.threshold!)},${yTpf(r.tokensPerForward)}`).join(' ')}"/>`);
    for (const r of pts) parts.push(`<circle cx="${x(r.threshold!)}" cy="${yAcc(r.accuracy)}" r="3" fill="${col}"/>`);
    parts.push(`<text x="${L + 10}" y="${T + 16 + 16 * i}" fill="${col}">cache ${c}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
