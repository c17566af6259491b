// Notification channels: where alerts go, each channel's newest deliveries, and a test button. Channels are added
// through the API (POST /api/v1/channels), since each kind asks for its own settings and secrets.
import { html } from 'hono/html';

export const channels = () => html`
  <p>
    Add a channel with <code>POST /api/v1/channels</code> (e-mail, Slack, Teams, Discord, Telegram or a signed webhook;
    see the API documentation). Secrets are never shown again.
  </p>
  <table id="channels-table" tabindex="0">
    <caption>
      Channels
    </caption>
    <thead>
      <tr>
        <th scope="col">Name</th>
        <th scope="col">Kind</th>
        <th scope="col">Sends to</th>
        <th scope="col">Events</th>
        <th scope="col">Actions</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
  <table id="deliveries-table" tabindex="0">
    <caption>
      Recent deliveries
    </caption>
    <thead>
      <tr>
        <th scope="col">Channel</th>
        <th scope="col">Event</th>
        <th scope="col">State</th>
        <th scope="col">Attempts</th>
        <th scope="col">Last error</th>
        <th scope="col">Time</th>
      </tr>
    </thead>
    <tbody></tbody>
  </table>
`;
