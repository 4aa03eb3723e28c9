// Newline-delimited JSON off a stream, with a bound on the line length so a broken or hostile peer
// cannot make the proxy buffer without limit.

export class NdjsonError extends Error {}

export class NdjsonDecoder {
  readonly #maxLineBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** Every complete value in the chunk; keeps a partial line for the next call. */
  push(chunk: Buffer): unknown[] {
    const values: unknown[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      this.#check(piece.length);
      const line = this.#pending.length === 0 ? piece : Buffer.concat([...this.#pending, piece]);
      this.#pending = [];
      this.#pendingBytes = 0;
      const text = line.toString('utf8').trim();
      if (text === '') continue;
      try {
        values.push(JSON.parse(text));
      } catch (error) {
        throw new NdjsonError(`invalid JSON line: ${(error as Error).message}`);
      }
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#check(rest.length);
      this.#pending.push(rest);
      this.#pendingBytes += rest.length;
    }
    return values;
  }

  #check(extra: number): void {
    if (this.#pendingBytes + extra > this.#maxLineBytes) {
      throw new NdjsonError(`line longer than ${this.#maxLineBytes} bytes`);
    }
  }
}
