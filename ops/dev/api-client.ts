// The platform's HTTP API as its programs call it: npm start's first-start set-up, the tests and the bench.

/**
 * An answer's JSON as the API sent it, not checked here: the caller reads the fields it needs, and the tests'
 * assertions are their check (the reason eslint allows `any` in test/).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface ApiResponse<T = Json> {
  status: number;
  body: T;
  headers: Headers;
}

/** `body` goes as JSON; a string goes as it is, so a test can send JSON the client would not write. */
export type Api = <T = Json>(
  method: string,
  path: string,
  opts?: { token?: string; body?: unknown },
) => Promise<ApiResponse<T>>;

export function apiClient(baseUrl: string): Api {
  return async (method, urlPath, { token, body } = {}) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(baseUrl + urlPath, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Json = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
