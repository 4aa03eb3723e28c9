// Every hook and test of the e2e project waits on a shared cluster: a new namespace, for one, waits up to 60 s
// for the controller-manager to create its ServiceAccount, which takes seconds after an apiserver restart. Jest's
// 5 s default cut such a wait short in CI (informer.test.ts's beforeAll, right after apiserver-restart.test.ts).
// Tests that need longer still say so themselves.
import { jest } from '@jest/globals';

jest.setTimeout(120_000);
