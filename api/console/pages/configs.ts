// Backup configurations: the list with its actions (run now, dry run, pause/resume), health, and the editor.
import { html } from 'hono/html';
import { COMPRESSIONS, DEFAULT_COMPRESSION } from '../../../common/model.ts';

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export const overview = () => html`
  <table id="health-table" tabindex="0">
    <caption>
      Health per configuration
    </caption>
    <thead>
      <tr>
        <th scope="col">Configuration</th>
        <th scope="col">Last backup</th>
        <th scope="col">Last success</th>
        <th scope="col">Last verification</th>
        <th scope="col">Last drill</th>
        <th scope="col">Measured restore time</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;

export const configs = () => html`
  <p><a href="/console/config" class="button">New configuration</a></p>
  <table id="configs-table" tabindex="0">
    <caption>
      Backup configurations
    </caption>
    <thead>
      <tr>
        <th scope="col">Name</th>
        <th scope="col">Server</th>
        <th scope="col">Databases</th>
        <th scope="col">Schedule</th>
        <th scope="col">State</th>
        <th scope="col">Actions</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
  <section id="dry-run" class="card" hidden aria-labelledby="dry-run-title" tabindex="-1">
    <h2 id="dry-run-title">Dry run report</h2>
    <p id="dry-run-summary"></p>
    <ul id="dry-run-checks"></ul>
  </section>
`;

const retentionFields = html`<fieldset id="destinations-fieldset">
  <legend>Destinations and their retention</legend>
  <p id="no-destinations">The server's site has no destinations.</p>
  <div id="destination-rows"></div>
</fieldset>`;

const checkFields = html`<fieldset id="checks">
  <legend>Verification and restore drills</legend>
  <div class="check">
    <input id="verifyOn" name="verifyOn" type="checkbox" />
    <label for="verifyOn">Read every copy back end to end every day</label>
  </div>
  <label for="verifyTime">Verification time (HH:MM)</label>
  <input id="verifyTime" name="verifyTime" value="04:00" pattern="[0-2][0-9]:[0-5][0-9]" />
  <div class="check">
    <input id="drillOn" name="drillOn" type="checkbox" />
    <label for="drillOn">Restore the newest backup into a scratch database every month and check it</label>
  </div>
  <label for="drillDay">Drill day of the month (1-28)</label>
  <input id="drillDay" name="drillDay" type="number" min="1" max="28" value="1" />
  <label for="drillTime">Drill time (HH:MM)</label>
  <input id="drillTime" name="drillTime" value="05:00" pattern="[0-2][0-9]:[0-5][0-9]" />
  <p id="checks-note"></p>
</fieldset>`;

export const config = () => html`
  <form id="config-form" class="card">
    <label for="name">Name</label>
    <input id="name" name="name" required maxlength="100" />
    <label for="serverId">Server</label>
    <select id="serverId" name="serverId" required></select>
    <label for="databases">Databases <small>(comma-separated, or * for every database of the server)</small></label>
    <input id="databases" name="databases" required />
    <fieldset>
      <legend>Schedule</legend>
      <label for="kind">Kind</label>
      <select id="kind" name="kind">
        <option value="daily">Daily</option>
        <option value="biweekly">Every two weeks</option>
        <option value="monthly">Monthly</option>
        <option value="cron">Cron expression</option>
      </select>
      <label for="time" data-for="daily biweekly monthly">Time (HH:MM)</label>
      <input id="time" name="time" value="02:30" pattern="[0-2][0-9]:[0-5][0-9]" data-for="daily biweekly monthly" />
      <label for="weekday" data-for="biweekly">Weekday</label>
      <select id="weekday" name="weekday" data-for="biweekly">
        ${WEEKDAYS.map((d, i) => html`<option value="${i}">${d}</option>`)}
      </select>
      <label for="dayOfMonth" data-for="monthly">Day of the month (1-28)</label>
      <input id="dayOfMonth" name="dayOfMonth" type="number" min="1" max="28" value="1" data-for="monthly" />
      <label for="expression" data-for="cron">Cron expression</label>
      <input id="expression" name="expression" placeholder="30 2 * * *" data-for="cron" />
      <label for="timezone">Time zone</label>
      <input id="timezone" name="timezone" required list="timezones" />
      <datalist id="timezones"></datalist>
      <p id="next-runs" aria-live="polite"></p>
    </fieldset>
    <fieldset>
      <legend>Table cleaning</legend>
      <label for="cleanTables"
        >One table per line: <code>table</code> (leave its rows out), <code>table truncate</code>, or
        <code>table deleteOlderThan column days</code></label
      >
      <textarea id="cleanTables" name="cleanTables" rows="3"></textarea>
      <div class="check">
        <input id="confirmDestructiveCleaning" name="confirmDestructiveCleaning" type="checkbox" />
        <label for="confirmDestructiveCleaning"
          >I understand truncate and deleteOlderThan delete rows at the source database before each backup</label
        >
      </div>
    </fieldset>
    <fieldset>
      <legend>Compression and encryption</legend>
      <label for="algorithm">Compression</label>
      <select id="algorithm" name="algorithm">
        ${COMPRESSIONS.map((c) => html`<option value="${c}">${c}</option>`)}
      </select>
      <label for="level">Level</label>
      <input id="level" name="level" type="number" min="1" max="19" value="${DEFAULT_COMPRESSION.level}" />
      <div class="check">
        <input id="encrypt" name="encrypt" type="checkbox" />
        <label for="encrypt">Encrypt (AES-256-GCM; the tenant key lives in the site's configuration)</label>
      </div>
      <label for="keepLocal">Copies kept at the site</label>
      <input id="keepLocal" name="keepLocal" type="number" min="1" max="1000" value="7" />
    </fieldset>
    ${retentionFields} ${checkFields}
    <button type="submit">Save configuration</button>
  </form>
  <section id="retention-preview" class="card" hidden aria-labelledby="preview-title">
    <h2 id="preview-title">Retention preview</h2>
    <ul id="preview-list"></ul>
  </section>
`;
