/*
 * brookc internals: the schema model (model.c), the template engine (tmpl.c) and the
 * emitters (gen.c). brookc is a short-lived process: the model is allocated and never freed.
 */
#ifndef BROOKC_H
#define BROOKC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config/decl.h"

/* ---- string builder --------------------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len;
    size_t cap;
} sb_t;

void sb_put(sb_t *b, const char *s, size_t n);
void sb_puts(sb_t *b, const char *s);
void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *sb_take(sb_t *b); /* the text (never NULL); b is emptied */
char *xstrdup(const char *s);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The whole file as a NUL-terminated string (caller frees), or NULL when unreadable. */
char *read_file(const char *path);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);

/* ---- diagnostics -------------------------------------------------------------------------- */

/* Records "file:line: message" (line 0: "file: message"). brookc writes nothing once any
 * error was recorded. */
void diag(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int diag_count(void);

/* ---- schema model ------------------------------------------------------------------------- */

typedef enum {
    K_NULL,
    K_BOOLEAN,
    K_INT,
    K_LONG,
    K_FLOAT,
    K_DOUBLE,
    K_BYTES,
    K_STRING,
    K_RECORD,
    K_ENUM,
    K_ARRAY,
    K_MAP,
    K_UNION,
    K_FIXED,
    K_REF, /* unresolved name; replaced by the named schema after resolution */
} kind_t;

typedef struct schema schema_t;

typedef struct {
    char *name;
    char *cname;     /* C member name */
    char *has_cname; /* optional fields: the has_ member */
    schema_t *type;
    json_t *def; /* default, or NULL */
    char *doc;
    json_t *aliases;
    int line;
} field_t;

struct schema {
    kind_t kind;
    char *fullname; /* named types */
    char *cname;    /* named types: C type name */
    char *doc;
    char *logical; /* logicalType or NULL */
    int precision, scale;
    field_t *fields;
    size_t nfields;
    char **symbols;
    char **csymbols; /* enum constants */
    size_t nsymbols;
    char *enum_default;
    json_t *aliases;
    schema_t *items; /* array items, map values */
    schema_t **branches;
    size_t nbranches;
    int null_index;    /* optional ["null", X] / [X, "null"]: index of null, else -1 */
    char **branch_mem; /* general unions: member name per branch (NULL for null) */
    size_t size;       /* fixed */
    char *ref_name;    /* K_REF */
    char *ref_ns;
    const char *file;
    int line;
    int mark; /* scratch for graph walks */
    bool emitted;
    bool is_writer; /* defined by a writer schema file */
};

typedef struct {
    schema_t **named; /* definition order */
    size_t nnamed;
    char **files; /* schema files as given */
    size_t nfiles;
} model_t;

/* Parses and resolves schema files into m. Errors go to diag(). `display` is how each file is
 * named in errors and banners (same length as paths). */
void model_load(model_t *m, char **paths, char **display, size_t n);
schema_t *model_find(const model_t *m, const char *fullname);
/* Parsing Canonical Form of s. */
char *model_pcf(const schema_t *s);
/* Self-contained JSON of s with what resolution needs (defaults, aliases, enum default). */
char *model_full_json(const schema_t *s);
/* Self-contained JSON of s as a document shows it: defaults, docs and logical types, names as
 * short name and namespace (the spelling AsyncAPI's schema of Avro accepts). */
char *model_doc_json(const schema_t *s);
/* Checks every named type with avro-c. */
void model_validate_avro(model_t *m);
/* Assigns C names to types, fields, symbols and union members. */
void model_assign_names(model_t *m);
bool schema_is_optional(const schema_t *s);
/* The non-null branch of an optional union. */
schema_t *schema_optional_value(const schema_t *s);
const char *kind_name(kind_t k);
bool is_c_identifier(const char *s);
bool is_c_reserved(const char *s);
bool is_c_local(const char *s);

/* ---- templates ---------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *value;
} tvar_t;

/* Loads the embedded templates, then those in dir (every *.tmpl file), whose blocks replace
 * embedded blocks of the same name. 0 or -1 (diag'ed). */
int tmpl_load(const char *dir);
/* Renders block `name` with vars (NULL-terminated by a {NULL, NULL} entry) onto out. */
void tmpl_render(sb_t *out, const char *name, const tvar_t *vars);
char *tmpl_str(const char *name, const tvar_t *vars);

/* ---- generation --------------------------------------------------------------------------- */

typedef struct {
    const char *unit; /* C prefix of the unit */
    const char *out_dir;
    model_t *model;
    brook_decl_t *decl;    /* NULL for --schemas */
    const char *decl_text; /* declaration file text */
    const char *decl_base; /* declaration file basename */
    const char *decl_display;
    char **writer_paths; /* display names */
    char **writer_texts;
    schema_t **writer_types; /* the current type each writer schema is a version of */
    size_t nwriters;
    /* Multi-declaration runs (one service of several): the shared types unit, and the model
     * of this service's own schemas (the types it may use; `model` holds every service's). */
    const char *types_unit;
    model_t *scope;
} gen_t;

/* Renders <unit>.brook.h and .c into *h and *c: the unit's types, and its service when decl
 * is set. Errors go to diag(). */
void gen_unit(gen_t *g, char **h, char **c);
/* Renders the glue of one service of a multi-declaration run (decl, types_unit and scope set):
 * the header includes <types_unit>.brook.h, the source defines no type. */
void gen_service_unit(gen_t *g, char **h, char **c);

/* The named type of a declared key or value (sd->kind BROOK_SERDE_AVRO), looked up in `scope`
 * (the service's own schemas; NULL: `model`) and returned from `model`; NULL, reported as
 * "display:line: what: type ... is not defined by any schema of the service", when missing. */
schema_t *decl_serde_type(model_t *model, model_t *scope, const char *display,
                          const brook_decl_serde_t *sd, const char *what, int line);

/* ---- what services touch (topology.c) ------------------------------------------------------ */

typedef enum {
    TOPIC_MAIN,  /* declared, written by a template or read by a listener */
    TOPIC_RETRY, /* a retry topic of some listener */
    TOPIC_DLT,   /* a dead-letter topic of some listener */
} topic_role_t;

typedef struct {
    char *name;
    topic_role_t role;              /* RETRY or DLT when some listener derives it so */
    char *source;                   /* RETRY, DLT: the topic whose failed records it takes */
    const brook_decl_topic_t *decl; /* its first declaration, or NULL */
} topic_t;

typedef struct {
    topic_t *v;
    size_t n;
} topic_set_t;

topic_t *topic_set_find(const topic_set_t *set, const char *name);
/* Adds every topic of service d, each once, in this order: declared topics, templates' topics,
 * and each listener's topics followed by its retry and dead-letter topics (named as the runtime
 * names them). Topics already in the set keep their place. */
void topic_set_add_service(topic_set_t *set, const brook_decl_t *d);

/* ---- operations documents (asyncapi.c, graph.c) ------------------------------------------- */

/* The AsyncAPI 3.0.0 document of service d, whose own schemas are `model` (loaded, checked):
 * JSON text, or NULL when a template or listener names a type no schema defines (diag'ed).
 * `display` names the declaration file in errors. */
char *asyncapi_document(const brook_decl_t *d, model_t *model, const char *display,
                        const char *api_version);
/* The Graphviz dot text of services d[0..n-1]: services, topics, retry and dead-letter topics,
 * who writes and who reads what. */
char *graph_dot(brook_decl_t *const *d, size_t n, const char *name);

/* C helpers used by model.c and gen.c */
char *c_string_literal(const char *s, size_t len);
char *c_comment_text(const char *s);

#endif
