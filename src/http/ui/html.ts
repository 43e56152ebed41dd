/**
 * Markup is built with one tagged template, `html`, which escapes every
 * value it is given unless the value is already markup (an `Html`, made by
 * `html` itself or by the Markdown sanitiser). Nothing else in the UI joins
 * strings into markup, so text from a package (a summary, a version, a
 * yank reason) can only ever arrive escaped.
 */
import { escapeHtml } from '../../pypi/html.ts';

/** Markup that is safe to send as it is. */
export class Html {
  constructor(readonly text: string) {}

  toString(): string {
    return this.text;
  }
}

export type HtmlValue = Html | string | number | null | undefined | false | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v instanceof Html) return v.text;
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return (v as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(v));
}

/** Interpolated values are escaped; `Html` values and arrays of them are inserted as they are. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** Markup made by this code or returned by the sanitiser: never text from a request or a package. */
export function trusted(text: string): Html {
  return new Html(text);
}

/** One path segment of a link (a project name, a version: `+` and `!` are legal there). */
export function seg(s: string): string {
  return encodeURIComponent(s);
}

/** An absolute link from package metadata, kept only if it is http(s); anything else (javascript:, data:) is shown as text. */
export function safeHttpUrl(s: string): string | null {
  try {
    const u = new URL(s.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** Sizes in the units the config takes (KiB, MiB, GiB), as maxCacheSize and maxFileSize are written. */
export { formatBytes } from '../../format.ts';

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** An ISO instant as `2026-11-30 14:05 UTC` (null: a dash). */
export function formatTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
