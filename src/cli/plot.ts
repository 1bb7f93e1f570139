import * as vega from 'vega';

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

/**
 * A line chart as a standalone SVG string, rendered by Vega in Node (no
 * browser, no canvas: Vega's SVG renderer only needs text-width estimates).
 */
export async function lineChartSvg(o: { title: string; xTitle: string; yTitle: string; series: Series[]; logY?: boolean; width?: number; height?: number }): Promise<string> {
  const values = o.series.flatMap((s) => s.points.filter((p) => Number.isFinite(p.y) && (!o.logY || p.y > 0)).map((p) => ({ x: p.x, y: p.y, series: s.name })));
  const spec: vega.Spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: o.width ?? 560,
    height: o.height ?? 260,
    padding: 8,
    title: { text: o.title, anchor: 'start', fontSize: 14 },
    data: [{ name: 'points', values }],
    scales: [
      { name: 'x', type: 'linear', domain: { data: 'points', field: 'x' }, range: 'width', zero: false, nice: true },
      { name: 'y', type: o.logY ? 'log' : 'linear', domain: { data: 'points', field: 'y' }, range: 'height', nice: true, zero: false },
      { name: 'color', type: 'ordinal', domain: { data: 'points', field: 'series' }, range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: o.xTitle, grid: true, gridOpacity: 0.15 },
      { orient: 'left', scale: 'y', title: o.yTitle, grid: true, gridOpacity: 0.15 },
    ],
    legends: [{ stroke: 'color', orient: 'top-right', symbolType: 'stroke' }],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'bySeries', data: 'points', groupby: 'series' } },
        marks: [
          {
            type: 'line',
            from: { data: 'bySeries' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                stroke: { scale: 'color', field: 'series' },
                strokeWidth: { value: 1.8 },
              },
            },
          },
          {
            type: 'symbol',
            from: { data: 'bySeries' },
            encode: {
              enter: {
                x: { scale: 'x', field: 'x' },
                y: { scale: 'y', field: 'y' },
                fill: { scale: 'color', field: 'series' },
                size: { value: 14 },
              },
            },
          },
        ],
      },
    ],
  };
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
