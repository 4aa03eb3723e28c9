// What a simulated proxy reads from its config stream: the version of each message. Bytes, not strings:
// decoding hundreds of MiB per second to UTF-8 would make the bench process the bottleneck, so only the first
// 200 bytes of each line are looked at (the version comes first), even when a line starts across chunks.
const VERSION = /"version":"(sha256:[0-9a-f]{64})"/;
const HEAD_BYTES = 200;

/** A 'data' handler for an NDJSON config stream that calls onVersion with each message's version. */
export function versionScanner(onVersion: (version: string) => void): (chunk: Buffer) => void {
  // Whether the current line's head is still being read, and what of it has arrived.
  let collecting = true;
  let head = '';
  return (chunk) => {
    let i = 0;
    while (i < chunk.length) {
      const nl = chunk.indexOf(10, i);
      if (collecting) {
        // Never past the end of this line: the next line's version belongs to the next line.
        const end = Math.min(nl < 0 ? chunk.length : nl, i + HEAD_BYTES - head.length);
        head += chunk.toString('latin1', i, end);
        if (head.length >= HEAD_BYTES || nl >= 0) {
          const m = VERSION.exec(head);
          if (m !== null) onVersion(m[1]!);
          head = '';
          collecting = false;
        }
      }
      if (nl < 0) break;
      i = nl + 1;
      collecting = true;
    }
  };
}
