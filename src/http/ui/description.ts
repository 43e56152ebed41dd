/**
 * A package's long description, as the project page shows it. Markdown is
 * rendered by markdown-it with raw HTML off (a `<script>` in the source stays
 * text) and its link check on (no `javascript:`), then passed through
 * sanitize-html with a short allow-list, so what reaches the page is plain
 * structure whatever the renderer lets through. reStructuredText and plain
 * text are shown as preformatted text. Images become links: a depot is
 * often air-gapped, and a page should not call out to anywhere.
 *
 * sanitize-html 2.18 declares Node >= 22.12 only because it require()s the
 * ESM-only htmlparser2 12; Node 20.19+, which pydepot needs anyway, loads
 * ESM through require() unflagged. 2.17.5, the last release declaring Node 20,
 * lacks later fixes (GHSA-c9rx-x947-fp3h, GHSA-x3q4-9hxx-gx8m, GHSA-cv27-6wvh-8x7j).
 */
import MarkdownIt from 'markdown-it';
import sanitizeHtml from 'sanitize-html';
import { html, trusted, type Html } from './html.ts';

/** Longer descriptions are cut (a few are megabytes of generated text). */
const MAX_DESCRIPTION = 256 * 1024;

const markdown = new MarkdownIt({ html: false, linkify: false, typographer: false });

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [
    'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'blockquote', 'pre', 'code', 'em', 'strong', 'del', 's',
    'ul', 'ol', 'li', 'a', 'table', 'thead', 'tbody', 'tr', 'th', 'td',
  ],
  allowedAttributes: { a: ['href', 'title'], ol: ['start'], th: ['align'], td: ['align'], code: ['class'] },
  allowedClasses: { code: [/^language-[\w+#-]+$/] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  transformTags: {
    img: (_tag, attribs) => ({ tagName: 'a', attribs: { href: attribs.src ?? '', rel: 'nofollow noopener noreferrer' }, text: attribs.alt || attribs.src || 'image' }),
    // Links leave pydepot without telling where from, and cannot reach back.
    a: (_tag, attribs) => ({ tagName: 'a', attribs: { ...attribs, rel: 'nofollow noopener noreferrer' } }),
  },
};
// `rel` is added by the transform, after the allow-list has read the source's attributes.
(SANITIZE.allowedAttributes as Record<string, string[]>).a!.push('rel');

/** The Description-Content-Type's kind: markdown, or anything else (shown as text). */
function isMarkdown(contentType: string | null): boolean {
  return contentType !== null && /^\s*text\/markdown\s*(;|$)/i.test(contentType);
}

export function renderDescription(text: string, contentType: string | null): Html {
  const cut = text.length > MAX_DESCRIPTION;
  const source = cut ? text.slice(0, MAX_DESCRIPTION) : text;
  const note = cut ? html`<p class="note">The description is longer than ${MAX_DESCRIPTION / 1024} KiB; the rest is not shown.</p>` : '';
  if (!isMarkdown(contentType)) return html`<pre>${source}</pre>${note}`;
  return html`${trusted(sanitizeHtml(markdown.render(source), SANITIZE))}${note}`;
}
