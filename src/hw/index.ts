export * from './status.ts';
export * from './tdx_module.ts';
