// The one router factory: every resource's routes and the app itself are built with it, so every request body, query
// and path is validated the same way. It imports no route, which keeps app.ts -> routes -> lib free of cycles.
import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../auth/tokens.ts';

/** Every router validates with the same hook: 400 naming each field and what is wrong with it. */
export function router() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      // A strict schema's unknown keys come as one issue: each key is named as its own field.
      const issues = result.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => ({ field: [...i.path, k].join('.'), reason: 'not a field of this request' }))
          : [{ field: i.path.join('.') || result.target, reason: i.message }],
      );
      return c.json(
        { error: { code: 'invalid', message: issues.map((i) => `${i.field}: ${i.reason}`).join('; '), issues } },
        400,
      );
    },
  });
}

export type Router = ReturnType<typeof router>;
