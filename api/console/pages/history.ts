// Backup history (filters, cursor paging), one backup with its copies, download and restore, restores and their
// live progress.
import { html } from 'hono/html';
import { BACKUP_STATUSES } from '../../../common/model.ts';

const th = (...names: string[]) => names.map((n) => html`<th scope="col">${n}</th>`);

export const backups = () => html`
  <form id="filters" class="card inline">
    <label for="f-site">Site</label>
    <select id="f-site" name="siteId">
      <option value="">any</option>
    </select>
    <label for="f-server">Server</label>
    <select id="f-server" name="serverId">
      <option value="">any</option>
    </select>
    <label for="f-database">Database</label>
    <input id="f-database" name="database" />
    <label for="f-status">Status</label>
    <select id="f-status" name="status">
      <option value="">any</option>
      ${BACKUP_STATUSES.map((s) => html`<option value="${s}">${s}</option>`)}
    </select>
    <label for="f-from">From</label>
    <input id="f-from" name="from" type="date" />
    <label for="f-to">To</label>
    <input id="f-to" name="to" type="date" />
    <button type="submit">Filter</button>
  </form>
  <table id="backups-table" tabindex="0">
    <caption>
      Backups, newest first
    </caption>
    <thead>
      <tr>
        ${th('Started', 'Database', 'Server', 'Status', 'Size', 'Duration', 'File', 'Started by', 'Run')}
      </tr>
    </thead>
    <tbody></tbody>
  </table>
  <p><button type="button" id="more" hidden>Next page</button></p>
`;

export const backup = () => html`
  <dl id="backup-fields" class="card"></dl>
  <p>
    <button type="button" id="download" disabled>Download</button>
    <a id="temporal-link" target="_blank" rel="noopener">Open the run in the Temporal Web UI</a>
  </p>
  <table id="copies-table" tabindex="0">
    <caption>
      Copies and what happened to them
    </caption>
    <thead>
      <tr>
        ${th('Target', 'State', 'Location', 'Size', 'Stored', 'Events')}
      </tr>
    </thead>
    <tbody></tbody>
  </table>
  <form id="restore-form" class="card">
    <h2>Restore</h2>
    <label for="r-server">Target server</label>
    <select id="r-server" name="targetServerId" required></select>
    <label for="r-database">Target database</label>
    <input id="r-database" name="targetDatabase" required />
    <div class="check">
      <input id="r-overwrite" name="overwrite" type="checkbox" />
      <label for="r-overwrite">Overwrite the database if it has tables</label>
    </div>
    <div id="r-confirm-box" hidden>
      <label for="r-confirm">Type the target database's name to confirm it is replaced</label>
      <input id="r-confirm" name="confirm" autocomplete="off" />
    </div>
    <button type="submit">Restore</button>
  </form>
`;

export const restores = () => html`
  <table id="restores-table" tabindex="0">
    <caption>
      Restores and drills, newest first
    </caption>
    <thead>
      <tr>
        ${th('Started', 'Kind', 'Target database', 'Status', 'Restore time', 'Run')}
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;

export const restore = () => html`
  <dl id="restore-fields" class="card"></dl>
  <label for="progress">Progress</label>
  <progress id="progress" max="100"></progress>
  <p id="progress-text" aria-live="polite"></p>
  <p>
    <button type="button" id="cancel" disabled>Cancel restore</button>
    <a id="temporal-link" target="_blank" rel="noopener">Open the run in the Temporal Web UI</a>
  </p>
`;
