import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import { classifyResponse, grpcStatusOf, isGrpcContentType, parseGrpcStatus } from './classify.ts';

describe('classifyResponse', () => {
  test('Linkerd semantics', () => {
    expect(classifyResponse(200, -1, false)).toBe('success');
    expect(classifyResponse(404, -1, false)).toBe('success');
    expect(classifyResponse(499, -1, false)).toBe('success');
    expect(classifyResponse(500, -1, false)).toBe('failure');
    expect(classifyResponse(503, -1, false)).toBe('failure');
    expect(classifyResponse(200, 0, false)).toBe('success');
    expect(classifyResponse(200, 14, false)).toBe('failure');
    expect(classifyResponse(200, 5, false)).toBe('failure');
    expect(classifyResponse(200, -1, true)).toBe('failure');
    expect(classifyResponse(0, -1, false)).toBe('failure');
  });

  test('5xx is always a failure, whatever the gRPC status', () => {
    fc.assert(
      fc.property(fc.integer({ min: 500, max: 599 }), fc.integer({ min: -1, max: 16 }), (s, g) => {
        expect(classifyResponse(s, g, false)).toBe('failure');
      }),
    );
  });
});

describe('grpc-status', () => {
  test('parses trailers first, then the trailers-only head', () => {
    expect(parseGrpcStatus('0')).toBe(0);
    expect(parseGrpcStatus('14')).toBe(14);
    for (const bad of [undefined, '', ' 1', '1 ', '-1', 'x', '12345', ['0']])
      expect(parseGrpcStatus(bad)).toBe(-1);
    expect(grpcStatusOf('2', '0')).toBe(0);
    expect(grpcStatusOf('7', undefined)).toBe(7);
    expect(grpcStatusOf(undefined, undefined)).toBe(-1);
  });

  test('gRPC content types', () => {
    expect(isGrpcContentType('application/grpc')).toBe(true);
    expect(isGrpcContentType('application/grpc+proto')).toBe(true);
    expect(isGrpcContentType('Application/GRPC;charset=utf-8')).toBe(true);
    expect(isGrpcContentType('application/grpc-web')).toBe(false);
    expect(isGrpcContentType('application/json')).toBe(false);
    expect(isGrpcContentType(undefined)).toBe(false);
  });
});
