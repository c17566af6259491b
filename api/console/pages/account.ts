// Signing up (which creates the tenant) and signing in: the two pages open to anyone.
import { html } from 'hono/html';

export const signin = () => html`
  <form id="signin-form" class="card">
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="username" required />
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required />
    <label for="tenant">Tenant id <small>(only when one email and password open several tenants)</small></label>
    <input id="tenant" name="tenant" autocomplete="off" />
    <button type="submit">Sign in</button>
  </form>
  <p>No account yet? <a href="/console/signup">Sign up</a></p>
`;

export const signup = () => html`
  <form id="signup-form" class="card">
    <label for="tenantName">Organisation (your tenant's name)</label>
    <input id="tenantName" name="tenantName" required maxlength="100" autocomplete="organization" />
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="username" required />
    <label for="password">Password <small>(at least 12 characters)</small></label>
    <input id="password" name="password" type="password" autocomplete="new-password" minlength="12" required />
    <button type="submit">Sign up</button>
  </form>
  <p>Already signed up? <a href="/console/signin">Sign in</a></p>
`;
