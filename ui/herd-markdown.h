/* herd-markdown.h: Markdown (md4c, CommonMark + GFM tables, strikethrough, task lists, math
 * spans; raw HTML shown as text) rendered into GTK widgets appended to a vertical GtkBox:
 * paragraphs and headings as wrapped, selectable GtkLabels with Pango markup, lists as
 * indented labels, code blocks in monospace with a copy button, tables as a GtkGrid. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Appends the blocks of text[0..len) to box. Returns FALSE if md4c failed (then the text is
 * appended as one plain label). */
gboolean herd_markdown_render(const char *text, gsize len, GtkBox *box);
/* Where the finished part of a streaming text ends: just after the last blank line that is
 * outside a code fence, scanning from `from` (which must be outside a fence). */
gsize herd_markdown_stable_prefix(const char *text, gsize len, gsize from);

G_END_DECLS
