/** The page around every UI view: head, navigation, who is signed in. */
import { html, type Html } from './html.ts';

/** Who is looking, as the navigation shows it. */
export interface Viewer {
  /** null: anonymous. */
  user: string | null;
  /** How they proved it: a login session (they can log out) or credentials their browser sends. */
  via: 'session' | 'basic' | null;
  /** Signed in with a password and may upload somewhere: tokens and the audit log are theirs to see. */
  maintainer: boolean;
}

export interface PageOptions {
  title: string;
  /** The relative path from the page to /-/ui/ ('', '../', '../../'): links work behind any proxy prefix. */
  root: string;
  viewer: Viewer;
  body: Html;
  /** Marks the navigation entry of the page. */
  section?: 'repos' | 'stats' | 'squats' | 'tokens' | 'audit' | 'login';
}

export function layout(o: PageOptions): string {
  const r = o.root;
  const item = (section: PageOptions['section'], href: string, label: string) =>
    html`<li><a href="${r}${href}"${o.section === section ? html` aria-current="page"` : ''}>${label}</a></li>`;
  const who = o.viewer.user === null
    ? html`<a href="${r}login">Log in</a>`
    : html`Signed in as <strong>${o.viewer.user}</strong>${o.viewer.via === 'session' ? html` · <a href="${r}logout">Log out</a>` : ''}`;
  return html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${o.title} · pydepot</title>
<link rel="icon" href="${r}icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${r}ui.css">
<script src="${r}ui.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="${r === '' ? './' : r}">pydepot</a>
<nav aria-label="Main"><ul>
${item('repos', r === '' ? './' : '', 'Repositories')}
${item('stats', 'stats', 'Cache statistics')}
${item('squats', 'squats', 'Squatted names')}
${o.viewer.maintainer ? [item('tokens', 'tokens', 'API tokens'), item('audit', 'audit', 'Audit log')] : ''}
</ul></nav>
<div class="who">${who}</div>
</header>
<main id="main">
${o.body}
</main>
</body>
</html>
`.text;
}
