import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { PROXY_NODE_FLAGS } from './node-flags.ts';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

describe('the proxy image runs node with PROXY_NODE_FLAGS', () => {
  test('Dockerfile entrypoint', () => {
    const line = read('proxy-image/Dockerfile')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT') && l.includes('/app/proxy.mjs'));
    expect(line).toBe(
      `ENTRYPOINT ${JSON.stringify(['/usr/local/bin/node', ...PROXY_NODE_FLAGS, '/app/proxy.mjs'])}`.replaceAll(
        ',',
        ', ',
      ),
    );
  });
  test('local image recipe entrypoint', () => {
    const line = read('test/images/recipes/proxy.sh')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT='));
    expect(line).toBe(
      `ENTRYPOINT=(${['/usr/local/bin/node', ...PROXY_NODE_FLAGS, '/app/proxy.mjs'].join(' ')})`,
    );
  });
});
