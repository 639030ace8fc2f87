/*
 * The template engine: templates/ holds *.tmpl files made of blocks. A line "@@ name" starts
 * block `name`; a line starting "@#" is a comment. Inside a block, ${var} is replaced by the
 * variable's value. When ${var} is alone on its line, every line of a multi-line value gets
 * that line's indentation, and an empty value removes the line: nested code keeps its shape.
 * Logic stays in gen.c; the templates read like the C they produce.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brookc.h"

typedef struct {
    const char *name;
    const char *text;
} brookc_embedded_t;

/* Generated at build time from templates/ (embed_templates.cmake). */
extern const brookc_embedded_t brookc_embedded_templates[];

typedef struct {
    char *name;
    char *body;
} block_t;

static block_t *blocks;
static size_t nblocks;

static void add_file(const char *fname, const char *text) {
    const char *p = text;
    block_t *cur = NULL;
    sb_t body = {0};
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        if (n >= 3 && !strncmp(p, "@@ ", 3)) {
            if (cur)
                cur->body = sb_take(&body);
            blocks = xrealloc(blocks, (nblocks + 1) * sizeof(block_t));
            cur = &blocks[nblocks++];
            cur->name = xcalloc(1, n - 2);
            memcpy(cur->name, p + 3, n - 3);
            for (size_t k = strlen(cur->name); k > 0 && cur->name[k - 1] == ' '; k--)
                cur->name[k - 1] = 0;
            cur->body = NULL;
        } else if (n >= 2 && !strncmp(p, "@#", 2)) {
            /* comment */
        } else if (cur) {
            sb_put(&body, p, n);
            sb_puts(&body, "\n");
        } else if (n > 0) {
            diag(fname, 0, "template text outside a block");
        }
        p = eol ? eol + 1 : p + n;
    }
    if (cur)
        cur->body = sb_take(&body);
    else
        free(sb_take(&body));
}

int tmpl_load(const char *dir) {
    /* The embedded templates first; a directory's blocks then replace those of the same name,
     * so an override directory needs only the blocks it changes. */
    for (const brookc_embedded_t *e = brookc_embedded_templates; e->name; e++)
        add_file(e->name, e->text);
    if (!dir)
        return 0;
    DIR *d = opendir(dir);
    if (!d) {
        diag(dir, 0, "cannot open templates directory");
        return -1;
    }
    /* sorted, so that the result does not depend on directory order */
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".tmpl")) {
            names = xrealloc(names, (n + 1) * sizeof(char *));
            names[n++] = xstrdup(e->d_name);
        }
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (strcmp(names[k], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[k];
                names[k] = t;
            }
    for (size_t i = 0; i < n; i++) {
        char *path = xprintf("%s/%s", dir, names[i]);
        char *text = read_file(path);
        if (!text) {
            diag(path, 0, "cannot read template");
            return -1;
        }
        add_file(path, text);
    }
    return diag_count() ? -1 : 0;
}

static const char *block_body(const char *name) {
    for (size_t i = nblocks; i-- > 0;) /* later files override earlier ones */
        if (!strcmp(blocks[i].name, name))
            return blocks[i].body;
    fprintf(stderr, "brookc: template block \"%s\" is missing\n", name);
    exit(2);
}

static const char *var_value(const tvar_t *vars, const char *name, size_t n) {
    for (const tvar_t *v = vars; v && v->name; v++)
        if (strlen(v->name) == n && !strncmp(v->name, name, n))
            return v->value ? v->value : "";
    fprintf(stderr, "brookc: template variable \"%.*s\" is not set\n", (int)n, name);
    exit(2);
}

void tmpl_render(sb_t *out, const char *name, const tvar_t *vars) {
    const char *p = block_body(name);
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) + 1 : strlen(p);
        /* a line that is only whitespace + ${var} */
        size_t ws = 0;
        while (ws < n && (p[ws] == ' ' || p[ws] == '\t'))
            ws++;
        const char *close = NULL;
        if (ws + 2 < n && p[ws] == '$' && p[ws + 1] == '{')
            close = memchr(p + ws, '}', n - ws);
        if (close && (close + 1 == p + n || (close[1] == '\n' && close + 2 == p + n))) {
            const char *val = var_value(vars, p + ws + 2, (size_t)(close - (p + ws + 2)));
            const char *q = val;
            while (*q) {
                const char *e = strchr(q, '\n');
                size_t m = e ? (size_t)(e - q) : strlen(q);
                if (m > 0)
                    sb_put(out, p, ws);
                sb_put(out, q, m);
                sb_puts(out, "\n");
                q = e ? e + 1 : q + m;
            }
            p += n;
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            if (p[i] == '$' && i + 1 < n && p[i + 1] == '{') {
                const char *c = memchr(p + i, '}', n - i);
                if (c) {
                    sb_puts(out, var_value(vars, p + i + 2, (size_t)(c - (p + i + 2))));
                    i = (size_t)(c - p);
                    continue;
                }
            }
            sb_put(out, p + i, 1);
        }
        p += n;
    }
}

char *tmpl_str(const char *name, const tvar_t *vars) {
    sb_t b = {0};
    tmpl_render(&b, name, vars);
    return sb_take(&b);
}
