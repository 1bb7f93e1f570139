/**
 * The viewer page's markup: plain HTML with one ES module (client.ts,
 * served compiled from dist/sim/viewer). Controls carry ids the client and
 * the tests use.
 */

import { modulePage } from '../render/static-server.js';

const STYLE = `<style>
body { font: 14px system-ui, sans-serif; margin: 16px; color: #222; }
#view { width: 512px; height: 512px; border: 1px solid #ccc; cursor: crosshair; display: block; touch-action: none; }
.bar { display: flex; gap: 10px; align-items: center; margin: 8px 0; flex-wrap: wrap; }
input[type=number] { width: 7em; }
#status { font-family: ui-monospace, monospace; white-space: pre; }
#message { color: #a40; min-height: 1.2em; }
</style>`;

export function viewerHtml(task: string): string {
  const body = `${STYLE}
<h3>flowpolicy view: <span id="task">${task.replace(/[^\w.-]/g, '')}</span></h3>
<div class="bar">
  <label>seed <input id="seed" type="number" min="0" step="1" value="0"></label>
  <button id="reset">Reset</button>
  <label><input id="mode-teleop" type="radio" name="mode" value="teleop" checked> Teleop</label>
  <label><input id="mode-policy" type="radio" name="mode" value="policy"> Policy</label>
  <label><input id="record" type="checkbox"> Record</label>
  <button id="save">Save</button>
</div>
<canvas id="view" width="512" height="512"></canvas>
<div id="status">connecting...</div>
<div id="message"></div>
<p>Teleop: move the pointer onto the agent (or drag) and it follows; the pointer position is the action.</p>`;
  return modulePage(`flowpolicy view ${task}`, '/sim/viewer/client.js', body);
}
