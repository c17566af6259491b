// Include/exclude globs of a file backup, matched against a path relative to its root: `*` and `?` stay inside one
// path segment, `**` spans segments, `[...]` is a class. A pattern without `/` matches the name at any depth (as in
// .gitignore); one with `/` is anchored at the root. Tenant text: compiled to a RegExp with everything else escaped.
import { invalid } from '../../common/errors.ts';

export interface PathFilter {
  /** False: the entry and (for a directory) everything under it is left out. */
  keepDir(rel: string): boolean;
  keepFile(rel: string): boolean;
}

const MAX_PATTERN = 1024;

export function compileGlob(pattern: string, field = 'exclude'): RegExp {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN || pattern.includes('\0'))
    throw invalid(`glob '${pattern.slice(0, 60)}' must be 1 to ${MAX_PATTERN} characters without NUL`, field);
  const anchored = pattern.includes('/');
  const body = pattern.replace(/^\/+/, '').replace(/\/+$/, '');
  let re = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '*' && body[i + 1] === '*') {
      // `**/` matches zero or more whole segments; a trailing `**` everything below.
      if (body[i + 2] === '/') {
        re += '(?:[^/]*/)*';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = body.indexOf(']', i + 2);
      if (end < 0) throw invalid(`glob '${pattern}' opens a [class] it does not close`, field);
      let cls = body.slice(i + 1, end).replace(/[\\\]^]/g, (m) => `\\${m}`);
      if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `(?!/)[${cls}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, (m) => `\\${m}`);
  }
  return new RegExp(anchored ? `^${re}$` : `(?:^|/)${re}$`);
}

export function pathFilter(include: string[], exclude: string[]): PathFilter {
  const inc = include.map((p) => compileGlob(p, 'include'));
  const exc = exclude.map((p) => compileGlob(p, 'exclude'));
  const excluded = (rel: string) => exc.some((r) => r.test(rel));
  return {
    keepDir: (rel) => !excluded(rel),
    // Directories are walked whatever the includes say; includes choose the files (and links) kept.
    keepFile: (rel) => !excluded(rel) && (inc.length === 0 || inc.some((r) => r.test(rel))),
  };
}
