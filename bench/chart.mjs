// The echo group's chart: one SVG with four panels (req/s and server CPU µs per request, at each
// connection count), a group of bars per message size and one bar per server, written to
// bench/results/echo.svg. No dependency: the SVG is plain text.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const COLORS = ['#1f77b4', '#6baed6', '#9ecae1', '#7f7f7f', '#d62728', '#ff9896', '#ff7f0e', '#2ca02c', '#000000', '#9467bd'];
const PANEL_WIDTH = 560;
const PANEL_HEIGHT = 260;
const MARGIN = { left: 64, right: 16, top: 36, bottom: 40 };

function escape(text) {
  return String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A round axis maximum at or above `value`: 1, 2 or 5 times a power of ten. */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function formatTick(value) {
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(value);
}

/** One panel at (x, y): bars of `metric` for every server, grouped by size. */
function panel(x, y, title, ids, data, sizes, connections, metric) {
  const width = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const height = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const value = (id, size) => data.get(id)?.find((point) => point.size === size && point.connections === connections)?.[metric];
  const max = niceMax(Math.max(0, ...ids.flatMap((id) => sizes.map((size) => value(id, size) ?? 0))));
  const parts = [`<g transform="translate(${x},${y})">`, `<text x="${PANEL_WIDTH / 2}" y="20" text-anchor="middle" font-weight="bold">${escape(title)}</text>`];
  const left = MARGIN.left;
  const top = MARGIN.top;
  for (let tick = 0; tick <= 4; tick++) {
    const tickValue = (max * tick) / 4;
    const tickY = top + height - (height * tick) / 4;
    parts.push(`<line x1="${left}" x2="${left + width}" y1="${tickY}" y2="${tickY}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${tickY + 4}" text-anchor="end" font-size="11">${formatTick(tickValue)}</text>`);
  }
  const groupWidth = width / sizes.length;
  const barWidth = (groupWidth * 0.8) / Math.max(1, ids.length);
  sizes.forEach((size, groupIndex) => {
    const groupX = left + groupIndex * groupWidth + groupWidth * 0.1;
    ids.forEach((id, index) => {
      const bar = value(id, size);
      if (bar === undefined || !Number.isFinite(bar)) return;
      const barHeight = (height * bar) / max;
      parts.push(
        `<rect x="${(groupX + index * barWidth).toFixed(1)}" y="${(top + height - barHeight).toFixed(1)}" width="${(barWidth - 1).toFixed(1)}" height="${barHeight.toFixed(1)}" fill="${COLORS[index % COLORS.length]}"><title>${escape(`${id}: ${bar.toFixed(metric === 'cpu' ? 1 : 0)}`)}</title></rect>`,
      );
    });
    parts.push(`<text x="${(left + groupIndex * groupWidth + groupWidth / 2).toFixed(1)}" y="${top + height + 18}" text-anchor="middle" font-size="12">${size / 1024} KiB</text>`);
  });
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + height}" stroke="#000"/>`, '</g>');
  return parts.join('\n');
}

/**
 * Writes the chart of `data` (server id -> [{ size, connections, rps, cpu }]) and returns its
 * path. Servers keep the order they were measured in.
 */
export function writeEchoChart(data, sizes, connectionCounts) {
  const ids = [...data.keys()];
  const legendHeight = 20 * Math.ceil(ids.length / 4) + 10;
  const totalWidth = PANEL_WIDTH * connectionCounts.length;
  const totalHeight = PANEL_HEIGHT * 2 + legendHeight + 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${totalWidth}" height="${totalHeight}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${totalWidth / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">TCP echo over loopback, server pinned to one core (npm run bench -- echo, ${new Date().toISOString().slice(0, 10)})</text>`,
  ];
  connectionCounts.forEach((connections, column) => {
    parts.push(panel(column * PANEL_WIDTH, 30, `req/s, ${connections} connections (higher is better)`, ids, data, sizes, connections, 'rps'));
    parts.push(panel(column * PANEL_WIDTH, 30 + PANEL_HEIGHT, `server CPU µs per request, ${connections} connections (lower is better)`, ids, data, sizes, connections, 'cpu'));
  });
  const legendTop = 30 + PANEL_HEIGHT * 2 + 10;
  ids.forEach((id, index) => {
    const legendX = 20 + (index % 4) * (totalWidth / 4);
    const legendY = legendTop + Math.floor(index / 4) * 20;
    parts.push(`<rect x="${legendX}" y="${legendY}" width="12" height="12" fill="${COLORS[index % COLORS.length]}"/>`);
    parts.push(`<text x="${legendX + 18}" y="${legendY + 11}">${escape(id)}</text>`);
  });
  parts.push('</svg>');
  const directory = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(directory, { recursive: true });
  const file = `${directory}echo.svg`;
  writeFileSync(file, `${parts.join('\n')}\n`);
  return file;
}
