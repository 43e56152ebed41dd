/**
 * The UI's only static files: one stylesheet and one small script, held in
 * memory (no file is ever read for a URL) and served from pydepot itself,
 * so an air-gapped depot needs no CDN or font. The pages work without the
 * script; it only adds copy buttons.
 */
import { createHash } from 'node:crypto';

const CSS = `
:root { --fg: #1b1f24; --muted: #57606a; --bg: #fff; --panel: #f6f8fa; --line: #d0d7de; --link: #0550ae; --warn: #9a6700; --bad: #cf222e; --ok: #1a7f37; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #161b22; --line: #30363d; --link: #4493f8; --warn: #d29922; --bad: #f85149; --ok: #3fb950; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; }
header.top { display: flex; flex-wrap: wrap; gap: 4px 20px; align-items: center; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
header.top nav ul { display: flex; flex-wrap: wrap; gap: 4px 16px; list-style: none; margin: 0; padding: 0; }
header.top .who { margin-left: auto; color: var(--muted); }
main { max-width: 1100px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 1.6em; margin: 0.4em 0; overflow-wrap: anywhere; }
h2 { font-size: 1.2em; margin-top: 1.6em; }
.muted, .note { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border: 1px solid var(--line); border-radius: 10px; font-size: 0.8em; color: var(--muted); white-space: nowrap; }
.badge.yanked, .error { color: var(--bad); border-color: var(--bad); }
.badge.pre { color: var(--warn); border-color: var(--warn); }
.error { border: 1px solid var(--bad); padding: 8px 12px; border-radius: 6px; }
.ok { border: 1px solid var(--ok); padding: 8px 12px; border-radius: 6px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
td code.sha { word-break: break-all; }
pre { background: var(--panel); padding: 10px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.copy { display: flex; gap: 8px; align-items: center; margin: 6px 0; }
.copy code { flex: 1; background: var(--panel); padding: 6px 10px; border-radius: 6px; overflow-x: auto; white-space: nowrap; }
button, input[type=submit] { font: inherit; padding: 4px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); color: var(--fg); cursor: pointer; }
input[type=search], input[type=text], input[type=password], select { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
form.search { display: flex; gap: 8px; margin: 12px 0; }
form.search input[type=search] { flex: 1; max-width: 480px; }
form.stack label { display: block; margin: 10px 0 4px; font-weight: 600; }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 10px 0; }
ul.versions { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 14px; }
ul.results { list-style: none; padding: 0; }
ul.results li { padding: 6px 0; border-bottom: 1px solid var(--line); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.description { border-top: 1px solid var(--line); margin-top: 16px; padding-top: 8px; overflow-wrap: anywhere; }
.description img { max-width: 100%; }
`;

// Progressive only: every page works without it.
const JS = `
'use strict';
for (const el of document.querySelectorAll('[data-copy]')) {
  if (!navigator.clipboard) break;
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = 'Copy';
  b.setAttribute('aria-label', 'Copy to the clipboard');
  b.addEventListener('click', () => {
    navigator.clipboard.writeText(el.textContent).then(() => { b.textContent = 'Copied'; setTimeout(() => { b.textContent = 'Copy'; }, 1500); }, () => { b.textContent = 'Select and copy'; });
  });
  el.after(b);
}
`;

// A package box: the browser asks for an icon, and /favicon.ico is not pydepot's to answer.
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1 15 4.5v7L8 15 1 11.5v-7z" fill="#3572a5"/><path d="M1 4.5 8 8l7-3.5M8 8v7" stroke="#ffd43b" stroke-width="1.2" fill="none"/></svg>`;

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(text: string, type: string): Asset {
  const body = Buffer.from(text.trim() + '\n', 'utf8');
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

export const ASSETS: Readonly<Record<string, Asset>> = {
  'ui.css': asset(CSS, 'text/css; charset=utf-8'),
  'ui.js': asset(JS, 'text/javascript; charset=utf-8'),
  'icon.svg': asset(ICON, 'image/svg+xml'),
};
