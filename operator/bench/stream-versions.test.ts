import { expect, test } from '@jest/globals';
import { versionScanner } from './stream-versions.ts';

const v = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

test('finds the version of every line, also when a line or its head is split across chunks', () => {
  const text = [
    `{"type":"config","version":"${v(1)}","config":{"x":"${'y'.repeat(500)}"}}\n`,
    '{"type":"ping"}\n',
    `{"type":"patch","version":"${v(2)}","base":"${v(1)}"}\n`,
  ].join('');
  for (const size of [1, 7, 64, 199, 200, 201, text.length]) {
    const seen: string[] = [];
    const scan = versionScanner((x) => seen.push(x));
    for (let i = 0; i < text.length; i += size) scan(Buffer.from(text.slice(i, i + size), 'latin1'));
    expect(seen).toEqual([v(1), v(2)]);
  }
});
