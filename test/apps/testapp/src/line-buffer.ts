// Cuts a byte stream into lines for the banner port, which answers line by line like a
// database or mail server would.

export const MAX_LINE_BYTES = 64 * 1024;

export class LineBuffer {
  #pending: Buffer = Buffer.alloc(0);
  readonly #maxLineBytes: number;

  constructor(maxLineBytes = MAX_LINE_BYTES) {
    this.#maxLineBytes = maxLineBytes;
  }

  // Returns the complete lines in `chunk` plus what was held back, without their CRLF or LF.
  // A line longer than the limit is handed out in pieces so a client cannot grow memory forever.
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (let newline = data.indexOf(0x0a); newline >= 0; newline = data.indexOf(0x0a)) {
      const end = newline > 0 && data[newline - 1] === 0x0d ? newline - 1 : newline;
      lines.push(data.subarray(0, end).toString('utf8'));
      data = data.subarray(newline + 1);
    }
    while (data.length > this.#maxLineBytes) {
      lines.push(data.subarray(0, this.#maxLineBytes).toString('utf8'));
      data = data.subarray(this.#maxLineBytes);
    }
    this.#pending = Buffer.from(data);
    return lines;
  }

  // At end of input an unterminated last line still counts as a line.
  flush(): string[] {
    if (this.#pending.length === 0) return [];
    const last = this.#pending.toString('utf8');
    this.#pending = Buffer.alloc(0);
    return [last];
  }
}
