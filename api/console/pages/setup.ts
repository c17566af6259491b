// Where backups come from and go to: sites (with the worker's one-time key), servers, destinations.
import { html } from 'hono/html';
import { DESTINATION_KINDS, ENGINES } from '../../../common/model.ts';

const options = (values: readonly string[]) => values.map((v) => html`<option value="${v}">${v}</option>`);

export const sites = () => html`
  <form id="site-form" class="card inline">
    <label for="site-name">New site's name</label>
    <input id="site-name" name="name" required maxlength="100" />
    <button type="submit">Register site</button>
  </form>
  <section id="site-key" class="card notice" hidden aria-labelledby="site-key-title" tabindex="-1">
    <h2 id="site-key-title">Site worker configuration (shown once)</h2>
    <p>
      The key below is shown only now: save this file as the site worker's configuration (SITE_CONFIG), fill in each
      server's connection settings, then start it with <code>npm run worker:site</code>.
    </p>
    <label for="site-key-value">Connection key</label>
    <input id="site-key-value" readonly />
    <label for="site-snippet">Configuration file (site-worker.json)</label>
    <textarea id="site-snippet" readonly rows="14"></textarea>
  </section>
  <table id="sites-table" tabindex="0">
    <caption>
      Sites
    </caption>
    <thead>
      <tr>
        <th scope="col">Name</th>
        <th scope="col">Online</th>
        <th scope="col">Last check-in</th>
        <th scope="col">Engines</th>
        <th scope="col">Task queue</th>
        <th scope="col">Actions</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;

export const servers = () => html`
  <form id="server-form" class="card inline">
    <label for="server-site">Site</label>
    <select id="server-site" name="siteId" required></select>
    <label for="server-name">Name <small>(as in the site's configuration)</small></label>
    <input id="server-name" name="name" required pattern="[a-z0-9._\\-]+" />
    <label for="server-engine">Engine</label>
    <select id="server-engine" name="engine">
      ${options(ENGINES)}
    </select>
    <button type="submit">Add server</button>
  </form>
  <table id="servers-table" tabindex="0">
    <caption>
      Servers
    </caption>
    <thead>
      <tr>
        <th scope="col">Name</th>
        <th scope="col">Engine</th>
        <th scope="col">Site</th>
        <th scope="col">Added</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;

export const destinations = () => html`
  <form id="destination-form" class="card inline">
    <label for="destination-site">Site</label>
    <select id="destination-site" name="siteId" required></select>
    <label for="destination-name">Name <small>(as in the site's configuration)</small></label>
    <input id="destination-name" name="name" required />
    <label for="destination-kind">Kind</label>
    <select id="destination-kind" name="kind">
      ${options(DESTINATION_KINDS)}
    </select>
    <button type="submit">Add destination</button>
  </form>
  <table id="destinations-table" tabindex="0">
    <caption>
      Destinations (their settings and secrets stay in the site's configuration)
    </caption>
    <thead>
      <tr>
        <th scope="col">Name</th>
        <th scope="col">Kind</th>
        <th scope="col">Site</th>
        <th scope="col">Added</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;
