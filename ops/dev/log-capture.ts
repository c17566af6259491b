// A process's ECS log lines kept in memory: the tests assert on them, and a site worker is started once its own
// "worker started" line has passed.
import { Writable } from 'node:stream';

export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  private partial = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts.filter(Boolean)) {
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.lines.push({ message: line, unparsed: true });
      }
    }
    cb();
  }
}
