// Writes crds/argocd/health.lua and argocd-cm-patch.yaml. Run: node crds/argocd/generate.ts
import { writeFileSync } from 'node:fs';
import { argocdConfigMapPatch, HEALTH_LUA } from './render.ts';

writeFileSync(new URL('./health.lua', import.meta.url), HEALTH_LUA);
writeFileSync(new URL('./argocd-cm-patch.yaml', import.meta.url), argocdConfigMapPatch());
