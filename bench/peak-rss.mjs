/**
 * Preloaded with `node --import ./bench/peak-rss.mjs …`: when the process
 * exits, writes its peak RSS in bytes (getrusage's ru_maxrss, exact where
 * polling /proc could miss a spike) to the file $BENCH_PEAK_RSS_FILE names.
 * Plain JavaScript, so it costs the measured process no TypeScript loader.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_PEAK_RSS_FILE;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
