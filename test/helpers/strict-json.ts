// JSON.parse keeps the last of two equal keys without a word, as Elasticsearch's ingest does: this parser refuses them,
// and `flatten` refuses a dotted key that names a field the line also gives nested ("log.level" and log: {level}).

/** Parses one JSON text; throws on a key that appears twice in one object. */
export function parseStrict(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`${what} at ${i}: ${text.slice(Math.max(0, i - 40), i + 40)}`);
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') return (i++, obj);
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = string();
        if (Object.hasOwn(obj, key)) fail(`duplicate key "${key}"`);
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        obj[key] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return (i++, obj);
        else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === ']') return (i++, arr);
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return (i++, arr);
        else fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected character');
    i += m![0].length;
    return JSON.parse(m![0]);
  };
  const string = (): string => {
    const start = i++;
    while (text[i] !== '"') {
      if (i >= text.length) fail('unterminated string');
      i += text[i] === '\\' ? 2 : 1;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return out;
}

/** Every leaf as its dotted ECS name; arrays of scalars are one field. Throws when two spellings name one field. */
export function flatten(obj: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, name, out);
    else {
      if (out.has(name)) throw new Error(`field "${name}" given twice (dotted and nested)`);
      out.set(name, v);
    }
  }
  return out;
}
