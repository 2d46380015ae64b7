/**
 * The keep-alive supervisor's entry: `node <home>/lib/oc-versions-<v>-<hash>/dist/keepalive.mjs '<json>'`.
 * scripts/bundle.mjs bundles it self-contained (dist/home/dist/keepalive.mjs) and `ensureHomeLib`
 * renders it into the home, so a supervisor never runs a file of the checkout oc-versions was
 * started from (src/service/keepalive.ts has the supervisor itself).
 */
import { supervisorMain } from './keepalive.js';

if (process.argv[2]) supervisorMain(process.argv[2]);
