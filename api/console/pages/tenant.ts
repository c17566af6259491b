// The tenant's own settings, its users and roles, the audit log, and the statistics page.
import { html } from 'hono/html';
import { ROLES } from '../../../common/model.ts';

export const settings = () => html`
  <form id="tenant-form" class="card">
    <label for="tenant-name">Tenant name</label>
    <input id="tenant-name" name="name" required maxlength="100" />
    <label for="webhook"
      >Alert channel: webhook URL <small>(Slack, Teams or any https receiver; empty for none)</small></label
    >
    <input id="webhook" name="webhookUrl" type="url" />
    <button type="submit">Save settings</button>
  </form>
  <h2>Domains</h2>
  <p id="address"></p>
  <form id="domain-form" class="card inline">
    <label for="domain">Your own domain</label>
    <input id="domain" name="domain" placeholder="backups.example.com" required />
    <button type="submit">Claim domain</button>
  </form>
  <table id="domains-table" tabindex="0">
    <caption>
      Domains: add the TXT record at your DNS provider, then verify
    </caption>
    <thead>
      <tr>
        <th scope="col">Domain</th>
        <th scope="col">State</th>
        <th scope="col">TXT record</th>
        <th scope="col">Actions</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;

export const users = () => html`
  <form id="user-form" class="card inline">
    <label for="user-email">Email</label>
    <input id="user-email" name="email" type="email" required autocomplete="off" />
    <label for="user-password">Initial password</label>
    <input id="user-password" name="password" type="password" minlength="12" required autocomplete="new-password" />
    <label for="user-role">Role</label>
    <select id="user-role" name="role">
      ${ROLES.map((r) => html`<option value="${r}">${r}</option>`)}
    </select>
    <button type="submit">Add user</button>
  </form>
  <table id="users-table" tabindex="0">
    <caption>
      Users and roles
    </caption>
    <thead>
      <tr>
        <th scope="col">Email</th>
        <th scope="col">Role</th>
        <th scope="col">Since</th>
        <th scope="col">Actions</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;

export const audit = () => html`
  <table id="audit-table" tabindex="0">
    <caption>
      Audit log, newest first
    </caption>
    <thead>
      <tr>
        <th scope="col">When</th>
        <th scope="col">Action</th>
        <th scope="col">Target</th>
        <th scope="col">User</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;

const chart = (id: string, title: string) =>
  html`<figure class="chart card">
    <figcaption id="${id}-title">${title}</figcaption>
    <div class="chart-box"><canvas id="${id}" role="img" aria-labelledby="${id}-title"></canvas></div>
  </figure>`;

export const statistics = () => html`
  <form id="stats-filters" class="card inline">
    <label for="s-config">Configuration</label>
    <select id="s-config" name="configId">
      <option value="">all</option>
    </select>
    <label for="s-server">Server</label>
    <select id="s-server" name="serverId">
      <option value="">all</option>
    </select>
    <label for="s-days">Days</label>
    <input id="s-days" name="days" type="number" min="1" max="366" value="30" />
    <button type="submit">Show</button>
  </form>
  <div class="charts">
    ${chart('chart-size', 'Backup size per day (bytes)')}
    ${chart('chart-duration', 'Backup duration per day (seconds)')}
    ${chart('chart-outcomes', 'Succeeded and failed backups per day')}
    ${chart('chart-storage', 'Storage used per destination (bytes)')}
  </div>
  <table id="drills-table" tabindex="0">
    <caption>
      Last successful restore drill per configuration
    </caption>
    <thead>
      <tr>
        <th scope="col">Configuration</th>
        <th scope="col">When</th>
        <th scope="col">Restore time (s)</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;
