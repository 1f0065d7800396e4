/* herd-markdown.c: md4c SAX callbacks → GTK widgets (product.md Appendix A). Inline text
 * gathers as escaped Pango markup and becomes a label when its block ends; block containers
 * (quotes, list items) are tracked with a small stack. */
#define G_LOG_DOMAIN "herd-markdown"

#include "herd-markdown.h"

#include <glib/gi18n.h>
#include <md4c.h>
#include <string.h>

typedef struct {
    gboolean ordered;
    unsigned next; /* next item number (ordered lists) */
} ListLevel;

typedef struct {
    GtkBox *root;
    GPtrArray *containers; /* GtkBox*, top = where blocks go */
    GString *markup;       /* inline text of the open block */
    gboolean in_block;     /* markup belongs to an open P/H/LI/TH/TD */
    int heading;           /* level of the open heading, 0 = none */
    GArray *lists;         /* ListLevel */
    char *item_prefix;     /* bullet/number for the next flush inside an LI */
    GString *code;         /* non-NULL inside a code block */
    char *code_lang;
    GtkGrid *table;
    int row, col;
    gboolean cell_header;
    int quote_depth;
} Render;

static GtkBox *top(Render *r)
{
    return r->containers->pdata[r->containers->len - 1];
}

static void append_widget(Render *r, GtkWidget *w)
{
    gtk_box_append(top(r), w);
}

static gboolean well_formed(const char *markup)
{
    static const GMarkupParser parser = { 0 };
    GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, NULL, NULL);
    gboolean ok = g_markup_parse_context_parse(ctx, "<m>", 3, NULL) &&
                  g_markup_parse_context_parse(ctx, markup, -1, NULL) &&
                  g_markup_parse_context_parse(ctx, "</m>", 4, NULL) &&
                  g_markup_parse_context_end_parse(ctx, NULL);
    g_markup_parse_context_free(ctx);
    return ok;
}

static GtkWidget *markup_label(const char *markup)
{
    GtkWidget *label = gtk_label_new(NULL);
    /* Everything is escaped and balanced here, but never let bad markup warn: check first
     * (GMarkup, since Pango alone does not know GtkLabel's <a>). */
    if (well_formed(markup))
        gtk_label_set_markup(GTK_LABEL(label), markup);
    else
        gtk_label_set_text(GTK_LABEL(label), markup);
    gtk_label_set_wrap(GTK_LABEL(label), TRUE);
    gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
    gtk_label_set_xalign(GTK_LABEL(label), 0.0f);
    gtk_label_set_selectable(GTK_LABEL(label), TRUE);
    gtk_widget_set_halign(label, GTK_ALIGN_FILL);
    gtk_widget_set_focusable(label, FALSE);
    return label;
}

/* Ends the open inline text as a label (paragraph, heading, list item text). */
static void flush(Render *r)
{
    if (!r->in_block)
        return;
    if (r->markup->len == 0 && !r->item_prefix)
        return;
    GString *m = g_string_new(NULL);
    if (r->item_prefix) {
        g_string_append(m, r->item_prefix);
        g_clear_pointer(&r->item_prefix, g_free);
    }
    g_string_append_len(m, r->markup->str, r->markup->len);
    GtkWidget *label = markup_label(m->str);
    g_string_free(m, TRUE);
    if (r->heading) {
        char cls[16];
        g_snprintf(cls, sizeof cls, "md-heading%d", MIN(r->heading, 3));
        gtk_widget_add_css_class(label, cls);
        gtk_widget_set_margin_top(label, 6);
        gtk_accessible_update_property(GTK_ACCESSIBLE(label), GTK_ACCESSIBLE_PROPERTY_LEVEL,
                                       r->heading, -1);
    }
    if (r->lists->len)
        gtk_widget_set_margin_start(label, 6 + 18 * (int)(r->lists->len - 1));
    append_widget(r, label);
    g_string_truncate(r->markup, 0);
}

static void copy_clicked(GtkButton *button, gpointer data)
{
    const char *code = g_object_get_data(G_OBJECT(button), "code");
    gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(button)), code ? code : "");
    gtk_button_set_icon_name(button, "object-select-symbolic");
    gtk_widget_set_tooltip_text(GTK_WIDGET(button), _("Copied"));
}

static GtkWidget *code_block(const char *code, const char *lang)
{
    GtkWidget *frame = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_widget_add_css_class(frame, "code-block");
    GtkWidget *header = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_widget_add_css_class(header, "code-header");
    GtkWidget *lang_label = gtk_label_new(lang && *lang ? lang : _("Code"));
    gtk_widget_add_css_class(lang_label, "dim-label");
    gtk_widget_set_hexpand(lang_label, TRUE);
    gtk_label_set_xalign(GTK_LABEL(lang_label), 0.0f);
    gtk_box_append(GTK_BOX(header), lang_label);
    GtkWidget *copy = gtk_button_new_from_icon_name("edit-copy-symbolic");
    gtk_widget_add_css_class(copy, "flat");
    gtk_widget_set_tooltip_text(copy, _("Copy code"));
    gtk_accessible_update_property(GTK_ACCESSIBLE(copy), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                   _("Copy code"), -1);
    g_object_set_data_full(G_OBJECT(copy), "code", g_strdup(code), g_free);
    g_signal_connect(copy, "clicked", G_CALLBACK(copy_clicked), NULL);
    gtk_box_append(GTK_BOX(header), copy);
    gtk_box_append(GTK_BOX(frame), header);

    GtkWidget *label = gtk_label_new(code);
    gtk_widget_add_css_class(label, "code");
    gtk_label_set_xalign(GTK_LABEL(label), 0.0f);
    gtk_label_set_selectable(GTK_LABEL(label), TRUE);
    gtk_widget_set_focusable(label, FALSE);
    /* Long lines scroll sideways instead of widening the chat. */
    GtkWidget *scroller = gtk_scrolled_window_new();
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_AUTOMATIC,
                                   GTK_POLICY_NEVER);
    gtk_scrolled_window_set_propagate_natural_height(GTK_SCROLLED_WINDOW(scroller), TRUE);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), label);
    gtk_box_append(GTK_BOX(frame), scroller);
    return frame;
}

static void push_box(Render *r, const char *css_class)
{
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    if (css_class)
        gtk_widget_add_css_class(box, css_class);
    append_widget(r, box);
    g_ptr_array_add(r->containers, box);
}

static void append_attr(GString *s, const MD_ATTRIBUTE *a)
{
    if (a && a->text)
        g_string_append_len(s, a->text, a->size);
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *user)
{
    Render *r = user;
    /* A block inside an open one (a list inside an item) ends the open text first. */
    if (type != MD_BLOCK_DOC && r->in_block && type != MD_BLOCK_P)
        flush(r);
    switch (type) {
    case MD_BLOCK_P:
        flush(r); /* a second paragraph in a loose list item */
        g_string_truncate(r->markup, 0);
        r->in_block = TRUE;
        break;
    case MD_BLOCK_H:
        r->heading = ((MD_BLOCK_H_DETAIL *)detail)->level;
        g_string_truncate(r->markup, 0);
        r->in_block = TRUE;
        break;
    case MD_BLOCK_QUOTE:
        push_box(r, "md-quote");
        break;
    case MD_BLOCK_UL:
    case MD_BLOCK_OL: {
        ListLevel l = { type == MD_BLOCK_OL, 1 };
        if (type == MD_BLOCK_OL)
            l.next = ((MD_BLOCK_OL_DETAIL *)detail)->start;
        g_array_append_val(r->lists, l);
        break;
    }
    case MD_BLOCK_LI: {
        MD_BLOCK_LI_DETAIL *d = detail;
        ListLevel *l = &g_array_index(r->lists, ListLevel, r->lists->len - 1);
        g_free(r->item_prefix);
        if (d->is_task)
            r->item_prefix = g_strdup(d->task_mark == ' ' ? "☐  " : "☑  ");
        else if (l->ordered)
            r->item_prefix = g_strdup_printf("%u.  ", l->next++);
        else
            r->item_prefix = g_strdup(r->lists->len > 1 ? "◦  " : "•  ");
        g_string_truncate(r->markup, 0);
        r->in_block = TRUE;
        break;
    }
    case MD_BLOCK_HR: {
        GtkWidget *sep = gtk_separator_new(GTK_ORIENTATION_HORIZONTAL);
        gtk_widget_set_margin_top(sep, 6);
        gtk_widget_set_margin_bottom(sep, 6);
        append_widget(r, sep);
        break;
    }
    case MD_BLOCK_CODE: {
        MD_BLOCK_CODE_DETAIL *d = detail;
        r->code = g_string_new(NULL);
        GString *lang = g_string_new(NULL);
        append_attr(lang, &d->lang);
        r->code_lang = g_string_free(lang, FALSE);
        break;
    }
    case MD_BLOCK_HTML:
        g_string_truncate(r->markup, 0);
        r->in_block = TRUE;
        break;
    case MD_BLOCK_TABLE: {
        GtkWidget *grid = gtk_grid_new();
        gtk_widget_add_css_class(grid, "md-table");
        gtk_widget_set_halign(grid, GTK_ALIGN_START);
        gtk_grid_set_column_spacing(GTK_GRID(grid), 0);
        r->table = GTK_GRID(grid);
        r->row = -1;
        GtkWidget *scroller = gtk_scrolled_window_new();
        gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_AUTOMATIC,
                                       GTK_POLICY_NEVER);
        gtk_scrolled_window_set_propagate_natural_height(GTK_SCROLLED_WINDOW(scroller), TRUE);
        gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), grid);
        append_widget(r, scroller);
        break;
    }
    case MD_BLOCK_TR:
        r->row++;
        r->col = 0;
        break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD:
        r->cell_header = type == MD_BLOCK_TH;
        g_string_truncate(r->markup, 0);
        r->in_block = TRUE;
        break;
    default:
        break;
    }
    return 0;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *user)
{
    Render *r = user;
    switch (type) {
    case MD_BLOCK_P:
        flush(r);
        r->in_block = r->lists->len > 0; /* still inside a list item */
        break;
    case MD_BLOCK_H:
        flush(r);
        r->heading = 0;
        r->in_block = FALSE;
        break;
    case MD_BLOCK_HTML:
        flush(r);
        r->in_block = FALSE;
        break;
    case MD_BLOCK_LI:
        flush(r);
        g_clear_pointer(&r->item_prefix, g_free);
        r->in_block = FALSE;
        break;
    case MD_BLOCK_UL:
    case MD_BLOCK_OL:
        if (r->lists->len)
            g_array_set_size(r->lists, r->lists->len - 1);
        /* Back in the parent item: its later text continues there. */
        r->in_block = r->lists->len > 0;
        break;
    case MD_BLOCK_QUOTE:
        flush(r);
        if (r->containers->len > 1)
            g_ptr_array_set_size(r->containers, r->containers->len - 1);
        break;
    case MD_BLOCK_CODE:
        if (r->code) {
            if (r->code->len && r->code->str[r->code->len - 1] == '\n')
                g_string_truncate(r->code, r->code->len - 1);
            GtkWidget *w = code_block(r->code->str, r->code_lang);
            if (r->lists->len)
                gtk_widget_set_margin_start(w, 6 + 18 * (int)r->lists->len);
            append_widget(r, w);
            g_string_free(r->code, TRUE);
            r->code = NULL;
            g_clear_pointer(&r->code_lang, g_free);
        }
        break;
    case MD_BLOCK_TH:
    case MD_BLOCK_TD:
        if (r->table) {
            GtkWidget *label = markup_label(r->markup->str);
            gtk_widget_add_css_class(label, "md-cell");
            if (r->cell_header)
                gtk_widget_add_css_class(label, "md-th");
            gtk_label_set_wrap(GTK_LABEL(label), FALSE);
            gtk_widget_set_hexpand(label, TRUE);
            gtk_grid_attach(r->table, label, r->col, MAX(r->row, 0), 1, 1);
        }
        r->col++;
        g_string_truncate(r->markup, 0);
        r->in_block = FALSE;
        break;
    case MD_BLOCK_TABLE:
        r->table = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static int enter_span(MD_SPANTYPE type, void *detail, void *user)
{
    Render *r = user;
    GString *m = r->markup;
    switch (type) {
    case MD_SPAN_EM:
        g_string_append(m, "<i>");
        break;
    case MD_SPAN_STRONG:
        g_string_append(m, "<b>");
        break;
    case MD_SPAN_U:
        g_string_append(m, "<u>");
        break;
    case MD_SPAN_DEL:
        g_string_append(m, "<s>");
        break;
    case MD_SPAN_CODE:
    case MD_SPAN_LATEXMATH:
    case MD_SPAN_LATEXMATH_DISPLAY:
        g_string_append(m, "<span font_family=\"monospace\">");
        break;
    case MD_SPAN_A: {
        MD_SPAN_A_DETAIL *d = detail;
        GString *href = g_string_new(NULL);
        append_attr(href, &d->href);
        char *esc = g_markup_escape_text(href->str, -1);
        g_string_append_printf(m, "<a href=\"%s\">", esc);
        g_free(esc);
        g_string_free(href, TRUE);
        break;
    }
    case MD_SPAN_IMG:
        g_string_append(m, "<i>[");
        break;
    default:
        break;
    }
    return 0;
}

static int leave_span(MD_SPANTYPE type, void *detail, void *user)
{
    Render *r = user;
    GString *m = r->markup;
    switch (type) {
    case MD_SPAN_EM:
        g_string_append(m, "</i>");
        break;
    case MD_SPAN_STRONG:
        g_string_append(m, "</b>");
        break;
    case MD_SPAN_U:
        g_string_append(m, "</u>");
        break;
    case MD_SPAN_DEL:
        g_string_append(m, "</s>");
        break;
    case MD_SPAN_CODE:
    case MD_SPAN_LATEXMATH:
    case MD_SPAN_LATEXMATH_DISPLAY:
        g_string_append(m, "</span>");
        break;
    case MD_SPAN_A:
        g_string_append(m, "</a>");
        break;
    case MD_SPAN_IMG:
        g_string_append(m, "]</i>");
        break;
    default:
        break;
    }
    return 0;
}

static void append_escaped(GString *m, const char *text, gsize size)
{
    /* g_markup_escape_text also drops nothing: control characters are escaped as char refs,
     * which Pango refuses, so replace them with U+FFFD here. */
    for (gsize i = 0; i < size; i++) {
        unsigned char c = (unsigned char)text[i];
        switch (c) {
        case '<':
            g_string_append(m, "&lt;");
            break;
        case '>':
            g_string_append(m, "&gt;");
            break;
        case '&':
            g_string_append(m, "&amp;");
            break;
        case '"':
            g_string_append(m, "&quot;");
            break;
        case '\'':
            g_string_append(m, "&apos;");
            break;
        case '\t':
        case '\n':
            g_string_append_c(m, (char)c);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                g_string_append(m, "\xEF\xBF\xBD");
            else
                g_string_append_c(m, (char)c);
        }
    }
}

static const struct {
    const char *name;
    const char *utf8;
} entities[] = {
    { "&amp;", "&" },   { "&lt;", "<" },          { "&gt;", ">" },   { "&quot;", "\"" },
    { "&apos;", "'" },  { "&nbsp;", "\xC2\xA0" }, { "&copy;", "©" }, { "&mdash;", "—" },
    { "&ndash;", "–" }, { "&hellip;", "…" },
};

static int text_cb(MD_TEXTTYPE type, const MD_CHAR *text, MD_SIZE size, void *user)
{
    Render *r = user;
    if (r->code) {
        g_string_append_len(r->code, text, size);
        return 0;
    }
    GString *m = r->markup;
    switch (type) {
    case MD_TEXT_NULLCHAR:
        g_string_append(m, "\xEF\xBF\xBD");
        break;
    case MD_TEXT_BR:
        g_string_append_c(m, '\n');
        break;
    case MD_TEXT_SOFTBR:
        g_string_append_c(m, ' ');
        break;
    case MD_TEXT_ENTITY: {
        const char *rep = NULL;
        for (gsize i = 0; i < G_N_ELEMENTS(entities); i++)
            if (strlen(entities[i].name) == size && memcmp(entities[i].name, text, size) == 0)
                rep = entities[i].utf8;
        if (!rep && size > 3 && text[1] == '#') {
            gunichar u = (text[2] == 'x' || text[2] == 'X')
                             ? (gunichar)g_ascii_strtoull(text + 3, NULL, 16)
                             : (gunichar)g_ascii_strtoull(text + 2, NULL, 10);
            if (u >= 0x20 && g_unichar_validate(u)) {
                char buf[8];
                int n = g_unichar_to_utf8(u, buf);
                append_escaped(m, buf, n);
                break;
            }
        }
        if (rep)
            append_escaped(m, rep, strlen(rep));
        else
            append_escaped(m, text, size);
        break;
    }
    default:
        if (!r->in_block) { /* text outside any block we track (should not happen) */
            g_string_truncate(m, 0);
            r->in_block = TRUE;
        }
        append_escaped(m, text, size);
        break;
    }
    return 0;
}

gboolean herd_markdown_render(const char *text, gsize len, GtkBox *box)
{
    g_return_val_if_fail(GTK_IS_BOX(box), FALSE);
    Render r = { 0 };
    r.root = box;
    r.containers = g_ptr_array_new();
    g_ptr_array_add(r.containers, box);
    r.markup = g_string_new(NULL);
    r.lists = g_array_new(FALSE, TRUE, sizeof(ListLevel));

    /* md4c wants valid input; invalid UTF-8 (never from the engine, maybe from an import)
     * is replaced first. */
    g_autofree char *valid = NULL;
    if (!g_utf8_validate(text, (gssize)len, NULL)) {
        valid = g_utf8_make_valid(text, (gssize)len);
        text = valid;
        len = strlen(valid);
    }
    MD_PARSER parser = { 0 };
    parser.abi_version = 0;
    parser.flags = MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_TASKLISTS |
                   MD_FLAG_LATEXMATHSPANS | MD_FLAG_NOHTML | MD_FLAG_PERMISSIVEAUTOLINKS;
    parser.enter_block = enter_block;
    parser.leave_block = leave_block;
    parser.enter_span = enter_span;
    parser.leave_span = leave_span;
    parser.text = text_cb;
    int rc = md_parse(text, (MD_SIZE)len, &parser, &r);
    flush(&r);
    if (r.code) {
        append_widget(&r, code_block(r.code->str, r.code_lang));
        g_string_free(r.code, TRUE);
    }
    g_free(r.code_lang);
    g_free(r.item_prefix);
    g_string_free(r.markup, TRUE);
    g_array_free(r.lists, TRUE);
    g_ptr_array_free(r.containers, TRUE);
    if (rc != 0) {
        g_autofree char *plain = g_strndup(text, len);
        GtkWidget *label = gtk_label_new(plain);
        gtk_label_set_wrap(GTK_LABEL(label), TRUE);
        gtk_label_set_xalign(GTK_LABEL(label), 0.0f);
        gtk_box_append(box, label);
        return FALSE;
    }
    return TRUE;
}

static gboolean is_fence(const char *line, gsize n)
{
    gsize i = 0;
    while (i < n && i < 3 && line[i] == ' ')
        i++;
    return n - i >= 3 && ((line[i] == '`' && line[i + 1] == '`' && line[i + 2] == '`') ||
                          (line[i] == '~' && line[i + 1] == '~' && line[i + 2] == '~'));
}

gsize herd_markdown_stable_prefix(const char *text, gsize len, gsize from)
{
    gboolean in_fence = FALSE;
    gsize stable = from, pos = from;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl)
            break; /* the last line is still being written */
        gsize n = (gsize)(nl - (text + pos));
        if (is_fence(text + pos, n)) {
            in_fence = !in_fence;
        } else if (!in_fence) {
            gboolean blank = TRUE;
            for (gsize i = 0; i < n; i++)
                if (text[pos + i] != ' ' && text[pos + i] != '\t' && text[pos + i] != '\r')
                    blank = FALSE;
            if (blank)
                stable = pos + n + 1;
        }
        pos += n + 1;
    }
    return stable;
}
