// The operator's entrypoint refuses a bad setting at start, naming the variable, before it connects anywhere:
// a cluster domain the config contract refuses would otherwise leave every Service out of every config.
import { spawnSync } from 'node:child_process';
import { expect, test } from '@jest/globals';

const run = (env: Record<string, string>) =>
  spawnSync(process.execPath, ['operator/src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', KUBECONFIG: '/nonexistent/kubeconfig', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });

test.each([
  ['WEFT_CLUSTER_DOMAIN', 'bad..domain', 'is not a DNS domain like cluster.local'],
  ['WEFT_CLUSTER_DOMAIN', '', 'is not a DNS domain like cluster.local'],
  ['WEFT_POLICY_MODE', 'Enforcing', 'is not permissive or enforcing'],
  ['WEFT_CONTROL_PLANE_MAX_CONNECTIONS', '0', 'is not a number of connections from 1 to 1000000'],
  ['WEFT_CONTROL_PLANE_MAX_CONNECTIONS', '2e4', 'is not a number of connections from 1 to 1000000'],
  [
    'WEFT_CONTROL_PLANE_MAX_CONNECTIONS_PER_ADDRESS',
    'many',
    'is not a number of connections from 1 to 1000000',
  ],
  ['WEFT_RELEASE_STARTUP_PAGES', 'yes', 'is not true or false'],
  ['WEFT_ADMIN_PORT', '70000', 'is not a port number'],
  ['WEFT_CONFIG_STREAM_PORT', '-1', 'is not a port number, or off'],
  ['WEFT_CONFIG_STREAM_PORT', 'of', 'is not a port number, or off'],
  ['POD_IP', 'operator.local', 'is not an IP address'],
  ['WEFT_ADVERTISE_ADDRESS', '10.0.0.300', 'is not an IP address'],
  ['WEFT_LEASE_DURATION_SECONDS', '1', 'is not 2..3600 seconds'],
  ['WEFT_EVENT_REPEAT_SECONDS', '1', 'is not 2..86400 seconds'],
])('%s=%j is refused at start', (name, value, message) => {
  const r = run({ [name]: value });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`weft-operator: ${name}: "${value}" ${message}`);
});

test('a cluster domain written with a trailing dot or capitals is taken (the error is the missing kubeconfig)', () => {
  const r = run({ WEFT_CLUSTER_DOMAIN: 'Cluster.Local.' });
  expect(r.status).toBe(1);
  expect(r.stderr).not.toContain('WEFT_CLUSTER_DOMAIN');
  expect(r.stderr).toContain('/nonexistent/kubeconfig');
});

test('WEFT_CONFIG_STREAM_PORT=off is taken, in any case (the error is the missing kubeconfig)', () => {
  for (const value of ['off', 'OFF']) {
    const r = run({ WEFT_CONFIG_STREAM_PORT: value });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toContain('WEFT_CONFIG_STREAM_PORT');
    expect(r.stderr).toContain('/nonexistent/kubeconfig');
  }
});
