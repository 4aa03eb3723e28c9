export * from './annotations.ts';
export * from './compile.ts';
export * from './diagnostics.ts';
export * from './reads.ts';
export * from './resolve.ts';
export * from './status.ts';
