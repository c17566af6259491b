// Sign in and sign up: both answer a session, kept for this tab; then on to the page that asked, or the overview.
import { api, onSubmit, page, param, saveSession } from './app.js';

const next = () => {
  const to = param('next');
  // Only a path of this console: never off to another origin.
  return to && /^\/console\/[a-z]*(\?[\w=&%.-]*)?$/.test(to) ? to : '/console/';
};

page(async () => {
  const signin = document.getElementById('signin-form');
  if (signin)
    onSubmit(signin, async (f) => {
      const body = { email: f.email, password: f.password, ...(f.tenant && { tenant: f.tenant }) };
      saveSession(await api('POST', '/auth/login', body));
      location.assign(next());
    });
  const signup = document.getElementById('signup-form');
  if (signup)
    onSubmit(signup, async (f) => {
      saveSession(await api('POST', '/auth/signup', f));
      location.assign('/console/sites');
    });
});
