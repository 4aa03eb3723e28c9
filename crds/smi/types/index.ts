// TypeScript types of every SMI kind and version Weft serves.
export * from './meta.ts';
export * from './traffic-metrics.ts';
export * from './traffic-specs.ts';
export * from './traffic-split.ts';
export * from './traffic-target.ts';
