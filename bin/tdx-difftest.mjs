#!/usr/bin/env node
// Runs the TypeScript CLI in this process through tsx's loader, so that `npx tdx-difftest`
// needs no build step and no second Node process.
import { register } from 'tsx/esm/api';

register();
const { runProcess } = await import('../src/cli/main.ts');
runProcess(process.argv.slice(2));
