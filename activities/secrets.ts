// Secrets of the site's configuration, given in the file itself, as an environment variable or as a file of their own.
import { readFileSync } from 'node:fs';
import { invalid } from '../common/errors.ts';

/** One secret from wherever it was given; the messages name the variable or file, never the value. */
export function secret(
  name: string,
  value: string | undefined,
  env: string | undefined,
  file: string | undefined,
  trim = true,
): string | undefined {
  if (value !== undefined) return value;
  if (env !== undefined) {
    const v = process.env[env];
    if (v === undefined || v === '') throw invalid(`${name}Env: environment variable ${env} is not set`, `${name}Env`);
    return v;
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw invalid(
        `${name}File: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        `${name}File`,
      );
    }
    return trim ? text.trim() : text;
  }
  return undefined;
}
