/*
 * The brook command (docs/cli.md) as its users run it: a child process given the cluster's
 * bootstrap (the embedded cluster this process holds, as a dev-broker's; or the real Kafka
 * fixture's), next to services running in this process.
 *
 *   cli_test PATH-TO-BROOK [registry]
 *
 * With `registry`, only the tests that need the schema registry fixture (BROOK_TEST_REGISTRY,
 * cmake/BrookRegistry.cmake).
 *
 * Topics and groups are named after this run, so the test can run again on the same cluster.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cli_types.brook.h"
#include "interop.h"

static const char *brook_bin;
static brook_test_cluster_t *cluster;
static char run_id[32];
static char tmp_dir[256];

/* ---- running the command ------------------------------------------------------------------ */

/* Runs brook with the arguments and --bootstrap, `input` on its stdin; returns its exit code. */
static int cli_v(ix_run_t *r, const char *input, va_list ap) {
    char *argv[40];
    int n = 0;
    argv[n++] = (char *)brook_bin;
    for (const char *a; (a = va_arg(ap, const char *)) && n < 36;)
        argv[n++] = (char *)a;
    argv[n++] = "--bootstrap";
    argv[n++] = (char *)brook_test_bootstrap(cluster);
    argv[n] = NULL;
    if (ix_run(argv, input, input ? strlen(input) : 0, 120000, r))
        fail_msg("cannot run %s: %s", brook_bin, r->err);
    if (r->timed_out)
        fail_msg("brook %s timed out; stderr:\n%s", argv[1], r->err);
    return r->exit_code;
}

/* The same, the arguments NULL-terminated. */
static int cli(ix_run_t *r, const char *input, ...) {
    va_list ap;
    va_start(ap, input);
    int rc = cli_v(r, input, ap);
    va_end(ap);
    return rc;
}

#define EXPECT_EXIT(r, code)                                                                       \
    do {                                                                                           \
        if ((r)->exit_code != (code))                                                              \
            fail_msg("exit code %d, expected %d; stdout:\n%s\nstderr:\n%s", (r)->exit_code,        \
                     (code), (r)->out, (r)->err);                                                  \
    } while (0)

/* Runs brook (arguments NULL-terminated) with no input; asserts its exit code, and that what it
 * printed (stdout when it succeeded, else stderr) holds `says` (NULL: anything). */
static void expect(int code, const char *says, ...) {
    ix_run_t r;
    va_list ap;
    va_start(ap, says);
    cli_v(&r, NULL, ap);
    va_end(ap);
    EXPECT_EXIT(&r, code);
    if (says && !strstr(code ? r.err : r.out, says))
        fail_msg("\"%s\" not in what brook said:\n%s%s", says, r.out, r.err);
    ix_run_free(&r);
}

static void name(char *out, size_t size, const char *what) {
    snprintf(out, size, "cli-%s.%s", run_id, what);
}

/* Declaration files written, removed at the end. */
static char written[8][512];
static int written_count;

/* Writes a declaration file for --decl; its path into path. */
static void write_decl(char *path, size_t size, const char *file, const char *text) {
    snprintf(path, size, "%s/%s", tmp_dir, file);
    if (written_count < 8)
        snprintf(written[written_count++], sizeof(written[0]), "%s", path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* An app of the declaration text with the generated types, its listener (if any) bound to fn,
 * started and, with a listener, assigned its partitions. */
static brook_app_t *start_app(const char *decl, const char *listener, brook_handler_fn *fn,
                              void *opaque) {
    brook_error_t err = {0};
    brook_app_t *app = brook_app_new(decl, "cli-test.brook", NULL, &err);
    if (!app)
        fail_msg("declaration: %s", err.message);
    for (const brook_type_t *const *t = cli_types_types; *t; t++)
        assert_int_equal(brook_app_register_type(app, *t), 0);
    if (listener)
        assert_int_equal(brook_app_set_handler(app, listener, fn, opaque), 0);
    if (brook_app_start(app, &err))
        fail_msg("start: %s", err.message);
    if (listener)
        assert_true(brook_test_wait_assigned(app, 60000));
    return app;
}

/* A JSON text, as parsed from the command's output (bytes may hold NUL). */
static json_t *parse(const char *text) {
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("not JSON (%s): %s", jerr.text, text);
    return j;
}

/* The Avro JSON encoding of a cli.Sample given as JSON: what the generated to_json writes. */
static json_t *sample_json(const cli_Sample *v) {
    brook_buf_t b;
    brook_buf_init(&b);
    assert_int_equal(cli_Sample_to_json(v, &b), 0);
    brook_buf_append(&b, "", 1);
    json_t *j = parse((const char *)b.data);
    brook_buf_free(&b);
    return j;
}

static void sample_from(cli_Sample *v, const char *json) {
    brook_error_t err = {0};
    cli_Sample_init(v);
    if (cli_Sample_from_json(v, json, strlen(json), &err))
        fail_msg("sample: %s", err.message);
}

static const char *const samples[] = {
    "{\"id\":\"s-1\",\"count\":1,\"total\":10000000000,\"ratio\":0.5,\"flag\":true,"
    "\"raw\":\"\\u0000\\u00ffA\",\"tag\":\"abcd\",\"color\":\"GREEN\",\"note\":null,"
    "\"choice\":{\"cli.Inner\":{\"name\":\"in\"}},\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
    "\"attrs\":{\"x\":1}}",
    "{\"id\":\"s-2\",\"count\":-7,\"total\":-1,\"ratio\":\"NaN\",\"flag\":false,\"raw\":\"\","
    "\"tag\":\"\\u0000\\u0001\\u0002\\u0003\",\"color\":\"RED\",\"note\":{\"string\":\"h\\u00e9\"},"
    "\"choice\":{\"long\":42},\"items\":[],\"attrs\":{}}",
    "{\"id\":\"s-3\",\"count\":3,\"total\":3,\"ratio\":-2.25,\"flag\":true,\"raw\":\"3\","
    "\"tag\":\"wxyz\",\"color\":\"BLUE\",\"note\":null,\"choice\":null,\"items\":[],"
    "\"attrs\":{\"a\":-9,\"b\":9}}",
};

/* The output line whose key is `key` (borrowed from lines), or NULL. */
static json_t *line_with_key(json_t *lines, const char *key) {
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        json_t *k = json_object_get(l, "key");
        if (json_is_string(k) && !strcmp(json_string_value(k), key))
            return l;
    }
    return NULL;
}

static json_t *parse_lines(const char *out) {
    json_t *lines = json_array();
    char *copy = strdup(out), **v;
    size_t n = ix_lines(copy, &v);
    for (size_t i = 0; i < n; i++)
        if (v[i][0])
            json_array_append_new(lines, parse(v[i]));
    free(v);
    free(copy);
    return lines;
}

static const char *str_of(json_t *obj, const char *key) {
    json_t *s = json_object_get(obj, key);
    if (!json_is_string(s))
        fail_msg("%s is not a string in %s", key, json_dumps(obj, 0));
    return json_string_value(s);
}

/* ---- consume: typed records decoded as sent -------------------------------------------------- */

static void test_consume(void **state) {
    char topic[128], decl[2048], path[512];
    name(topic, sizeof(topic), "samples");
    snprintf(
        decl, sizeof(decl),
        "service = { name = \"cli-%s-samples\"; };\n"
        "schemas = [ \"%s/sample.avsc\" ];\n"
        "topics = ( { name = \"%s\"; partitions = 2; } );\n"
        "templates = (\n"
        "  { name = \"samples\"; topic = \"%s\"; key = \"string\"; value = \"cli.Sample\"; },\n"
        "  { name = \"confluent\"; topic = \"%s\"; key = \"string\"; value = \"cli.Sample\";\n"
        "    framing = \"confluent\"; schema_id = 42; } );\n",
        run_id, BROOK_CLI_SCHEMAS, topic, topic, topic);
    write_decl(path, sizeof(path), "samples.brook", decl);
    brook_app_t *app = start_app(decl, NULL, NULL, NULL);
    brook_template_t *tpl = brook_app_template(app, "samples"),
                     *cf = brook_app_template(app, "confluent");
    json_t *want[3];
    for (int i = 0; i < 3; i++) {
        cli_Sample v;
        sample_from(&v, samples[i]);
        want[i] = sample_json(&v);
        brook_header_t h[] = {{"trace", "t-1", 3}, {"bin", "\x00\x01\xff", 3}};
        brook_send_opts_t o = BROOK_SEND_OPTS_INIT;
        if (i == 0) {
            o.headers = h;
            o.header_count = 2;
        }
        char key[8];
        snprintf(key, sizeof(key), "s-%d", i + 1);
        assert_int_equal(brook_template_send(i == 2 ? cf : tpl, key, &v, &o), 0);
        cli_Sample_clear(&v);
    }
    const uint8_t unknown[] = {0xC3, 0x01, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 'x'};
    assert_int_equal(brook_template_send_raw(tpl, "raw-bin", 7, "\x00\x01\xfe\xff", 4, NULL), 0);
    assert_int_equal(brook_template_send_raw(tpl, "raw-text", 8, "plain t\xc3\xa9xt", 11, NULL), 0);
    assert_int_equal(
        brook_template_send_raw(tpl, "raw-unknown", 11, unknown, sizeof(unknown), NULL), 0);
    assert_int_equal(brook_template_flush(tpl, 30000), 0);
    assert_int_equal(brook_template_flush(cf, 30000), 0);

    /* Everything up to the end offsets, decoded with the declaration's schemas. */
    ix_run_t r;
    cli(&r, NULL, "consume", topic, "--from-beginning", "--decl", path, NULL);
    EXPECT_EXIT(&r, 0);
    json_t *lines = parse_lines(r.out);
    assert_int_equal(json_array_size(lines), 6);
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof(key), "s-%d", i + 1);
        json_t *l = line_with_key(lines, key);
        assert_non_null(l);
        assert_string_equal(str_of(l, "topic"), topic);
        assert_string_equal(str_of(l, "key_format"), "text");
        assert_string_equal(str_of(l, "value_format"), "avro");
        assert_string_equal(str_of(l, "value_schema"), "cli.Sample");
        assert_string_equal(str_of(l, "value_framing"), i == 2 ? "confluent" : "single_object");
        if (!json_equal(json_object_get(l, "value"), want[i]))
            fail_msg("%s: got %s, sent %s", key, json_dumps(json_object_get(l, "value"), 0),
                     json_dumps(want[i], 0));
        assert_true(json_integer_value(json_object_get(l, "offset")) >= 0);
        assert_true(json_integer_value(json_object_get(l, "timestamp")) > 0);
    }
    json_t *s1 = line_with_key(lines, "s-1"), *v1 = json_object_get(s1, "value");
    assert_string_equal(str_of(v1, "id"), "s-1");
    assert_int_equal(json_integer_value(json_object_get(v1, "total")), 10000000000LL);
    assert_int_equal(json_string_length(json_object_get(v1, "raw")), 4); /* U+0000 U+00FF A */
    assert_string_equal(str_of(json_object_get(json_object_get(v1, "choice"), "cli.Inner"), "name"),
                        "in");
    json_t *hs = json_object_get(s1, "headers");
    assert_int_equal(json_array_size(hs), 2);
    assert_string_equal(str_of(json_array_get(hs, 0), "value"), "t-1");
    assert_string_equal(str_of(json_array_get(hs, 0), "format"), "text");
    assert_string_equal(str_of(json_array_get(hs, 1), "value"), "AAH/");
    assert_string_equal(str_of(json_array_get(hs, 1), "format"), "base64");
    assert_int_equal(
        json_integer_value(json_object_get(line_with_key(lines, "s-3"), "value_schema_id")), 42);
    json_t *bin = line_with_key(lines, "raw-bin");
    assert_string_equal(str_of(bin, "value_format"), "base64");
    assert_string_equal(str_of(bin, "value"), "AAH+/w==");
    assert_string_equal(str_of(line_with_key(lines, "raw-text"), "value"), "plain t\xc3\xa9xt");
    json_t *unk = line_with_key(lines, "raw-unknown");
    assert_string_equal(str_of(unk, "value_format"), "base64");
    assert_non_null(strstr(str_of(unk, "value_note"), "fingerprint 1111111111111111"));
    json_decref(lines);
    ix_run_free(&r);

    /* --max; from the end (the default) there is nothing; without --decl, a note says why */
    cli(&r, NULL, "consume", topic, "--from-beginning", "--max", "2", "--decl", path, NULL);
    EXPECT_EXIT(&r, 0);
    lines = parse_lines(r.out);
    assert_int_equal(json_array_size(lines), 2);
    json_decref(lines);
    ix_run_free(&r);
    cli(&r, NULL, "consume", topic, NULL);
    EXPECT_EXIT(&r, 0);
    assert_string_equal(r.out, "");
    ix_run_free(&r);
    cli(&r, NULL, "consume", topic, "--from-beginning", "--partition", "0", NULL);
    EXPECT_EXIT(&r, 0);
    lines = parse_lines(r.out);
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        assert_int_equal(json_integer_value(json_object_get(l, "partition")), 0);
        if (!strncmp(str_of(l, "key"), "s-", 2)) {
            assert_string_equal(str_of(l, "value_format"), "base64");
            assert_non_null(json_object_get(l, "value_note"));
        }
    }
    json_decref(lines);
    ix_run_free(&r);
    /* As a member of a group: what it printed is committed, the next run goes on from there. */
    char group[128];
    snprintf(group, sizeof(group), "cli-%s-reader", run_id);
    cli(&r, NULL, "consume", topic, "--group", group, "--from-beginning", NULL);
    EXPECT_EXIT(&r, 0);
    lines = parse_lines(r.out);
    assert_int_equal(json_array_size(lines), 6);
    json_decref(lines);
    ix_run_free(&r);
    expect(0, "TOTAL", "groups", "lag", group, NULL);
    assert_int_equal(brook_test_committed(cluster, group, topic, 0) +
                         brook_test_committed(cluster, group, topic, 1),
                     6);
    cli(&r, NULL, "consume", topic, "--group", group, "--from-beginning", NULL);
    EXPECT_EXIT(&r, 0);
    assert_string_equal(r.out, "");
    ix_run_free(&r);
    for (int k = 0; k < 3; k++)
        json_decref(want[k]);
    brook_app_stop(app);
    brook_app_destroy(app);
}

/* ---- consume: Confluent ids from a schema registry ------------------------------------------ */

/* Runs a helper (argv NULL-terminated) that must succeed; its stdout, the caller frees. */
static char *helper(char *const argv[]) {
    ix_run_t r;
    if (ix_run(argv, NULL, 0, 60000, &r))
        fail_msg("cannot run %s: %s", argv[0], r.err);
    if (r.exit_code)
        fail_msg("%s %s: exit code %d\n%s%s", argv[0], argv[1], r.exit_code, r.out, r.err);
    char *out = r.out;
    r.out = NULL;
    ix_run_free(&r);
    return out;
}

/* API requests the registry fixture has served so far. */
static long registry_requests(void) {
    char *argv[] = {BROOK_REGISTRY_TOOL, "requests", getenv("BROOK_TEST_REGISTRY"), NULL};
    char *out = helper(argv);
    long n = strtol(out, NULL, 10);
    free(out);
    return n;
}

/* How many times `needle` is in `hay`. */
static int occurrences(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Records of a producer without Brook (registry_records.py: the id the registry gave its
 * schema, Avro by python3-avro), whose schema id no template of the --decl files declares, are
 * printed decoded with the registry's writer schema; an id the registry does not have is
 * printed as an undecodable value is, with a warning; an unreachable registry is exit code 3. */
static void test_consume_registry(void **state) {
    const char *dir = getenv("BROOK_TEST_REGISTRY");
    if (!dir)
        fail_msg("BROOK_TEST_REGISTRY is not set: run this test through ctest (registry.cli)");
    char *url_argv[] = {BROOK_REGISTRY_TOOL, "url", (char *)dir, NULL};
    char *url = helper(url_argv);
    url[strcspn(url, "\n")] = 0;
    char subject[160], topic[128], decl[2048], with_registry[512], with_template[512];
    snprintf(subject, sizeof(subject), "cli.%s.trades-value", run_id);
    char *py_argv[] = {IX_PYTHON, BROOK_CLI_REGISTRY_PY, url, subject, NULL};
    char *produced = helper(py_argv);
    json_t *p = parse(produced);
    free(produced);
    int32_t id = (int32_t)json_integer_value(json_object_get(p, "id"));
    json_t *hex = json_object_get(p, "values");
    assert_int_equal(json_array_size(hex), 2);

    /* Sent as they are: t-1 and t-2 with the registry's id, then two with an id it lacks. */
    name(topic, sizeof(topic), "trades");
    snprintf(decl, sizeof(decl),
             "service = { name = \"cli-%s-trades\"; };\n"
             "topics = ( { name = \"%s\"; partitions = 1; } );\n"
             "templates = ( { name = \"raw\"; topic = \"%s\"; key = \"string\"; "
             "value = \"bytes\"; } );\n",
             run_id, topic, topic);
    brook_app_t *app = start_app(decl, NULL, NULL, NULL);
    brook_template_t *tpl = brook_app_template(app, "raw");
    for (size_t i = 0; i < 2; i++) {
        const char *h = json_string_value(json_array_get(hex, i));
        uint8_t bytes[256];
        size_t n = strlen(h) / 2;
        assert_true(n <= sizeof(bytes));
        for (size_t k = 0; k < n; k++)
            sscanf(h + 2 * k, "%2hhx", &bytes[k]);
        char key[8];
        snprintf(key, sizeof(key), "t-%zu", i + 1);
        assert_int_equal(brook_template_send_raw(tpl, key, 3, bytes, n, NULL), 0);
    }
    const int32_t unknown = 0x7ffff1c0; /* 2147480000: far beyond the ids the fixture gives */
    const uint8_t gone[] = {0x00, 0x7f, 0xff, 0xf1, 0xc0, 0x02, 'x'};
    assert_int_equal(brook_template_send_raw(tpl, "gone-1", 6, gone, sizeof(gone), NULL), 0);
    assert_int_equal(brook_template_send_raw(tpl, "gone-2", 6, gone, sizeof(gone), NULL), 0);
    assert_int_equal(brook_template_flush(tpl, 30000), 0);

    /* A declaration with a schema registry and no templates: its registry decodes. */
    snprintf(decl, sizeof(decl),
             "service = { name = \"cli-%s-reader\"; };\n"
             "schema_registry = { url = \"%s\"; };\n",
             run_id, url);
    write_decl(with_registry, sizeof(with_registry), "registry.brook", decl);
    long before = registry_requests();
    ix_run_t r;
    cli(&r, NULL, "consume", topic, "--from-beginning", "--decl", with_registry, NULL);
    EXPECT_EXIT(&r, 0);
    long asked = registry_requests() - before;
    json_t *lines = parse_lines(r.out);
    assert_int_equal(json_array_size(lines), 4);
    static const char *const want[] = {
        "{\"sym\":\"ACME\",\"qty\":10000000000,\"px\":12.5,\"side\":\"SELL\","
        "\"venue\":{\"string\":\"XNYS\"},\"legs\":[{\"qty\":1},{\"qty\":-2}],"
        "\"tags\":{\"desk\":\"d1\"},\"raw\":\"\\u0000\\u00ff\"}",
        "{\"sym\":\"Z\\u00e9\",\"qty\":-1,\"px\":-0.25,\"side\":\"BUY\",\"venue\":null,"
        "\"legs\":[],\"tags\":{},\"raw\":\"\"}",
    };
    for (int i = 0; i < 2; i++) {
        char key[8];
        snprintf(key, sizeof(key), "t-%d", i + 1);
        json_t *l = line_with_key(lines, key), *expected = parse(want[i]);
        assert_non_null(l);
        assert_string_equal(str_of(l, "value_format"), "avro");
        assert_string_equal(str_of(l, "value_schema"), "cli.reg.Trade");
        assert_string_equal(str_of(l, "value_framing"), "confluent");
        assert_int_equal(json_integer_value(json_object_get(l, "value_schema_id")), id);
        assert_null(json_object_get(l, "value_note"));
        if (!json_equal(json_object_get(l, "value"), expected))
            fail_msg("%s: got %s, want %s", key, json_dumps(json_object_get(l, "value"), 0),
                     want[i]);
        json_decref(expected);
    }
    char id_text[64];
    snprintf(id_text, sizeof(id_text), "schema id %d", (int)unknown);
    for (int i = 1; i <= 2; i++) {
        char key[8];
        snprintf(key, sizeof(key), "gone-%d", i);
        json_t *l = line_with_key(lines, key);
        assert_non_null(l);
        assert_string_equal(str_of(l, "value_format"), "base64");
        assert_string_equal(str_of(l, "value"), "AH//8cACeA==");
        assert_null(json_object_get(l, "value_schema_id"));
        const char *note = str_of(l, "value_note");
        if (!strstr(note, id_text) || !strstr(note, "schema registry"))
            fail_msg("%s: note %s", key, note);
    }
    /* One warning for the id, not one per record; one request per id, not per record. */
    if (occurrences(r.err, id_text) != 1 || !strstr(r.err, "warning"))
        fail_msg("stderr should warn once about %s:\n%s", id_text, r.err);
    assert_int_equal(asked, 2);
    json_decref(lines);
    ix_run_free(&r);

    /* A declaration whose template declares another id: --schema-registry decodes; without
     * it, the note of an id no template declares. */
    snprintf(decl, sizeof(decl),
             "service = { name = \"cli-%s-other\"; };\n"
             "schemas = [ \"%s/sample.avsc\" ];\n"
             "templates = ( { name = \"samples\"; topic = \"%s\"; value = \"cli.Sample\";\n"
             "    framing = \"confluent\"; schema_id = 42; } );\n",
             run_id, BROOK_CLI_SCHEMAS, topic);
    write_decl(with_template, sizeof(with_template), "template.brook", decl);
    cli(&r, NULL, "consume", topic, "--from-beginning", "--max", "1", "--decl", with_template,
        "--schema-registry", url, NULL);
    EXPECT_EXIT(&r, 0);
    lines = parse_lines(r.out);
    assert_int_equal(json_array_size(lines), 1);
    json_t *l = line_with_key(lines, "t-1");
    assert_non_null(l);
    assert_string_equal(str_of(l, "value_schema"), "cli.reg.Trade");
    assert_string_equal(str_of(json_object_get(l, "value"), "sym"), "ACME");
    json_decref(lines);
    ix_run_free(&r);
    cli(&r, NULL, "consume", topic, "--from-beginning", "--max", "1", "--decl", with_template,
        NULL);
    EXPECT_EXIT(&r, 0);
    lines = parse_lines(r.out);
    l = line_with_key(lines, "t-1");
    assert_string_equal(str_of(l, "value_format"), "base64");
    assert_non_null(strstr(str_of(l, "value_note"), "no template of the --decl files declares"));
    json_decref(lines);
    ix_run_free(&r);

    /* Unreachable (--schema-registry over the declaration's, or BROOK_SCHEMA_REGISTRY_URL):
     * the record at hand printed undecoded, an error naming the registry, exit code 3. */
    const char *down = "http://127.0.0.1:1/apis/ccompat/v7";
    cli(&r, NULL, "consume", topic, "--from-beginning", "--decl", with_registry,
        "--schema-registry", down, NULL);
    EXPECT_EXIT(&r, 3);
    lines = parse_lines(r.out);
    assert_int_equal(json_array_size(lines), 1);
    l = line_with_key(lines, "t-1");
    assert_non_null(l);
    assert_string_equal(str_of(l, "value_format"), "base64");
    assert_non_null(strstr(str_of(l, "value_note"), "could not be asked"));
    assert_non_null(strstr(r.err, "127.0.0.1:1"));
    json_decref(lines);
    ix_run_free(&r);
    setenv("BROOK_SCHEMA_REGISTRY_URL", down, 1);
    cli(&r, NULL, "consume", topic, "--from-beginning", "--decl", with_registry, NULL);
    unsetenv("BROOK_SCHEMA_REGISTRY_URL");
    EXPECT_EXIT(&r, 3);
    ix_run_free(&r);
    expect(1, "--schema-registry wants an http://", "consume", topic, "--schema-registry",
           "localhost:8081", NULL);

    json_decref(p);
    free(url);
    brook_app_stop(app);
    brook_app_destroy(app);
}

/* ---- produce: JSON lines sent typed, read by a listener ----------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    int count;
    char *keys[8];
    char *json[8];
    char *header[8];
} received_t;

static received_t received = {.lock = PTHREAD_MUTEX_INITIALIZER};

static brook_result_t on_sample(brook_ctx_t *ctx, const void *key, const void *value,
                                void *opaque) {
    received_t *r = opaque;
    brook_buf_t b;
    brook_buf_init(&b);
    cli_Sample_to_json(value, &b);
    brook_buf_append(&b, "", 1);
    const void *h = NULL;
    size_t hlen = 0;
    brook_ctx_header(ctx, "h", &h, &hlen);
    pthread_mutex_lock(&r->lock);
    if (r->count < 8) {
        r->keys[r->count] = key ? strdup(key) : NULL;
        r->json[r->count] = strdup((const char *)b.data);
        r->header[r->count] = h ? strndup(h, hlen) : NULL;
        r->count++;
    }
    pthread_mutex_unlock(&r->lock);
    brook_buf_free(&b);
    return BROOK_OK;
}

static int received_count(void) {
    pthread_mutex_lock(&received.lock);
    int n = received.count;
    pthread_mutex_unlock(&received.lock);
    return n;
}

static void test_produce(void **state) {
    char topic[128], decl[2048], path[512];
    name(topic, sizeof(topic), "produced");
    snprintf(decl, sizeof(decl),
             "service = { name = \"cli-%s-produced\"; };\n"
             "schemas = [ \"%s/sample.avsc\" ];\n"
             "topics = ( { name = \"%s\"; partitions = 3; } );\n"
             "listeners = ( { id = \"in\"; topics = [ \"%s\" ]; key = \"string\";\n"
             "  value = \"cli.Sample\"; handler = \"on_sample\"; } );\n",
             run_id, BROOK_CLI_SCHEMAS, topic, topic);
    write_decl(path, sizeof(path), "produced.brook", decl);
    brook_app_t *app = start_app(decl, "in", on_sample, &received);

    /* A line that does not fit: reported with its number, nothing sent. */
    char input[4096];
    snprintf(input, sizeof(input),
             "{\"value\":%s}\n{\"value\":{\"id\":5}}\n\n{\"value\":%s,\"extra\":1}\n", samples[0],
             samples[1]);
    ix_run_t r;
    cli(&r, input, "produce", topic, "--type", "cli.Sample", "--decl", path, NULL);
    EXPECT_EXIT(&r, 5);
    assert_non_null(strstr(r.err, "line 2: value.id: expected a string"));
    assert_non_null(strstr(r.err, "line 4: unknown member \"extra\""));
    assert_non_null(strstr(r.err, "nothing was sent"));
    /* Queried until the broker answers for every partition (a topic just created may not be
     * in every broker's metadata yet): a failed query is negative, never 0. */
    int64_t end = -1;
    assert_true(BROOK_TEST_WAIT_UNTIL((end = brook_test_end_offsets(cluster, topic)) >= 0, 10000));
    assert_int_equal(end, 0);
    ix_run_free(&r);

    snprintf(input, sizeof(input),
             "{\"key\":\"explicit\",\"value\":%s,\"headers\":{\"h\":\"v1\"}}\n"
             "{\"value\":%s}\n{\"value\":%s}\n",
             samples[0], samples[1], samples[2]);
    cli(&r, input, "produce", topic, "--type", "cli.Sample", "--key-field", "id", "--decl", path,
        NULL);
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "delivered 3 record(s)"));
    ix_run_free(&r);
    assert_true(BROOK_TEST_WAIT_UNTIL(received_count() == 3, 30000));
    const char *keys[] = {"explicit", "s-2", "s-3"};
    pthread_mutex_lock(&received.lock);
    for (int i = 0; i < 3; i++) {
        int k = 0;
        while (k < received.count && (!received.keys[k] || strcmp(received.keys[k], keys[i])))
            k++;
        if (k == received.count)
            fail_msg("no record keyed %s arrived", keys[i]);
        cli_Sample v;
        sample_from(&v, samples[i]);
        json_t *want = sample_json(&v), *got = parse(received.json[k]);
        if (!json_equal(want, got))
            fail_msg("%s: got %s, want %s", keys[i], received.json[k], json_dumps(want, 0));
        json_decref(want);
        json_decref(got);
        cli_Sample_clear(&v);
        if (i == 0)
            assert_string_equal(received.header[k], "v1");
    }
    for (int k = 0; k < received.count; k++) {
        free(received.keys[k]);
        free(received.json[k]);
        free(received.header[k]);
    }
    pthread_mutex_unlock(&received.lock);
    brook_app_stop(app);
    brook_app_destroy(app);
}

/* ---- the shop's dead letters listed and replayed ------------------------------------------- */

/* The inventory's shape (samples/shop): an order it cannot make sense of (no quantity) is
 * shop.InvalidOrder, not retryable, straight to the DLT; until `fixed`, when it accepts them. */
#define ORDERS 8
typedef struct {
    pthread_mutex_t lock;
    atomic_bool fixed;
    int accepted[ORDERS];
    char failed_at[ORDERS][160]; /* topic[partition]@offset of each dead-lettered order */
} inventory_t;

static inventory_t inventory = {.lock = PTHREAD_MUTEX_INITIALIZER};

static brook_result_t reserve_stock(brook_ctx_t *ctx, const void *key, const void *value,
                                    void *opaque) {
    inventory_t *inv = opaque;
    const shop_OrderPlaced *order = value;
    int i = atoi(order->order_id + 2);
    if (i < 0 || i >= ORDERS)
        return BROOK_OK;
    const brook_record_t *r = brook_ctx_record(ctx);
    if (order->quantity <= 0 && !atomic_load(&inv->fixed)) {
        pthread_mutex_lock(&inv->lock);
        snprintf(inv->failed_at[i], sizeof(inv->failed_at[i]), "%s[%d]@%lld", r->topic,
                 (int)r->partition, (long long)r->offset);
        pthread_mutex_unlock(&inv->lock);
        return brook_ctx_fail(ctx, "shop.InvalidOrder", "quantity %d", order->quantity);
    }
    pthread_mutex_lock(&inv->lock);
    inv->accepted[i]++;
    pthread_mutex_unlock(&inv->lock);
    return BROOK_OK;
}

static int accepted_total(void) {
    int n = 0;
    pthread_mutex_lock(&inventory.lock);
    for (int i = 0; i < ORDERS; i++)
        n += inventory.accepted[i];
    pthread_mutex_unlock(&inventory.lock);
    return n;
}

static bool invalid(int i) {
    return i == 2 || i == 5 || i == 7;
}

/* The rows of `brook dlt list` (every line after the header but the summary). */
static size_t dlt_rows(const char *out, char rows[][512], size_t max) {
    char **v, *copy = strdup(out);
    size_t n = ix_lines(copy, &v), count = 0;
    for (size_t i = 1; i < n && count < max; i++)
        if (v[i][0] >= '0' && v[i][0] <= '9' && !strstr(v[i], " record(s) in "))
            snprintf(rows[count++], 512, "%s", v[i]);
    free(v);
    free(copy);
    return count;
}

static void test_dlt(void **state) {
    char topic[128], dlt[160], decl[2048], path[512];
    name(topic, sizeof(topic), "orders.placed");
    snprintf(dlt, sizeof(dlt), "%s-dlt", topic);
    snprintf(
        decl, sizeof(decl),
        "service = { name = \"cli-%s-inventory\"; };\n"
        "schemas = [ \"%s/order_placed.avsc\" ];\n"
        "topics = ( { name = \"%s\"; partitions = 4; } );\n"
        "templates = ( { name = \"placed\"; topic = \"%s\"; value = \"shop.OrderPlaced\"; } );\n"
        "listeners = ( { id = \"reserve\"; topics = [ \"%s\" ]; value = \"shop.OrderPlaced\";\n"
        "  handler = \"reserve_stock\"; group = \"cli-%s-inventory.reserve\";\n"
        "  retry = { attempts = 1; not_retryable = [ \"shop.InvalidOrder\" ]; };\n"
        "  dlt = { enabled = true; }; } );\n",
        run_id, BROOK_SHOP_SCHEMAS, topic, topic, topic, run_id);
    write_decl(path, sizeof(path), "inventory.brook", decl);
    brook_app_t *app = start_app(decl, "reserve", reserve_stock, &inventory);
    brook_template_t *placed = brook_app_template(app, "placed");
    for (int i = 0; i < ORDERS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "o-%d", i);
        shop_OrderPlaced o = {.order_id = id,
                              .customer = "c",
                              .sku = "sku-1",
                              .quantity = invalid(i) ? 0 : 1 + i,
                              .amount_cents = 100 * i,
                              .placed_at = 1700000000000LL + i};
        assert_int_equal(brook_template_send(placed, id, &o, NULL), 0);
    }
    assert_int_equal(brook_template_flush(placed, 30000), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(
        accepted_total() == 5 && brook_test_end_offsets(cluster, dlt) == 3, 60000));

    /* Listed with where they failed and why. */
    ix_run_t r;
    char rows[8][512];
    cli(&r, NULL, "dlt", "list", dlt, "--decl", path, NULL);
    EXPECT_EXIT(&r, 0);
    assert_int_equal(dlt_rows(r.out, rows, 8), 3);
    for (int k = 0; k < 3; k++) {
        assert_non_null(strstr(rows[k], "shop.InvalidOrder"));
        assert_non_null(strstr(rows[k], "pending"));
        assert_non_null(strstr(rows[k], "quantity 0"));
        bool found = false;
        pthread_mutex_lock(&inventory.lock);
        for (int i = 0; i < ORDERS && !found; i++)
            found = invalid(i) && strstr(rows[k], inventory.failed_at[i]) != NULL;
        pthread_mutex_unlock(&inventory.lock);
        if (!found)
            fail_msg("row names no original coordinates of a dead-lettered order: %s", rows[k]);
    }
    assert_non_null(strstr(r.out, "3 pending, 0 replayed"));
    ix_run_free(&r);

    /* The fix is in: one order replayed by key, then the rest, each once. */
    atomic_store(&inventory.fixed, true);
    cli(&r, NULL, "dlt", "replay", dlt, "--key", "o-5", NULL);
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "key \"o-5\""));
    assert_non_null(strstr(r.out, "replayed 1 record(s)"));
    ix_run_free(&r);
    assert_true(BROOK_TEST_WAIT_UNTIL(accepted_total() == 6, 60000));
    cli(&r, NULL, "dlt", "replay", dlt, NULL);
    EXPECT_EXIT(&r, 0);
    assert_null(strstr(r.out, "key \"o-5\""));
    assert_non_null(strstr(r.out, "key \"o-2\""));
    assert_non_null(strstr(r.out, "key \"o-7\""));
    assert_non_null(strstr(r.out, "replayed 2 record(s)"));
    ix_run_free(&r);
    assert_true(BROOK_TEST_WAIT_UNTIL(accepted_total() == ORDERS, 60000));

    /* A second replay replays nothing, and says so. */
    expect(2, "nothing to replay", "dlt", "replay", dlt, NULL);
    expect(0, "0 pending, 3 replayed", "dlt", "list", dlt, NULL);
    /* Each order completed once: the orders topic holds the 8 sent and the 3 replayed (read
     * to its end offsets; on Kafka the transactions' markers take offsets too). */
    cli(&r, NULL, "consume", topic, "--from-beginning", NULL);
    EXPECT_EXIT(&r, 0);
    json_t *lines = parse_lines(r.out);
    assert_int_equal(json_array_size(lines), ORDERS + 3);
    for (int i = 0; i < ORDERS; i++) {
        char id[16];
        snprintf(id, sizeof(id), "o-%d", i);
        size_t k, times = 0;
        json_t *l;
        json_array_foreach(lines, k, l) times += !strcmp(str_of(l, "key"), id);
        assert_int_equal(times, invalid(i) ? 2 : 1);
    }
    json_decref(lines);
    ix_run_free(&r);
    pthread_mutex_lock(&inventory.lock);
    for (int i = 0; i < ORDERS; i++)
        assert_int_equal(inventory.accepted[i], 1);
    pthread_mutex_unlock(&inventory.lock);
    brook_app_stop(app);
    brook_app_destroy(app);
}

/* ---- groups lag, offsets reset --------------------------------------------------------------- */

static atomic_int counted;

static brook_result_t count(brook_ctx_t *ctx, const void *key, const void *value, void *opaque) {
    atomic_fetch_add(&counted, 1);
    return BROOK_OK;
}

static int64_t committed_sum(const char *group, const char *topic) {
    int64_t a = brook_test_committed(cluster, group, topic, 0),
            b = brook_test_committed(cluster, group, topic, 1);
    return (a >= 0 ? a : 0) + (b >= 0 ? b : 0);
}

/* The TOTAL line of `brook groups lag`. */
static void lag_totals(const char *out, long long *committed, long long *end, long long *lag) {
    const char *t = strstr(out, "\nTOTAL");
    if (!t || sscanf(t + 6, "%lld %lld %lld", committed, end, lag) != 3)
        fail_msg("no TOTAL line in:\n%s", out);
}

static void test_groups(void **state) {
    char topic[128], group[128], decl[2048];
    name(topic, sizeof(topic), "lag");
    snprintf(group, sizeof(group), "cli-%s-counter", run_id);
    snprintf(decl, sizeof(decl),
             "service = { name = \"cli-%s-counter\"; commit_interval_ms = 100; };\n"
             "topics = ( { name = \"%s\"; partitions = 2; } );\n"
             "listeners = ( { id = \"counter\"; topics = [ \"%s\" ]; value = \"string\";\n"
             "  handler = \"count\"; group = \"%s\"; } );\n",
             run_id, topic, topic, group);
    brook_app_t *app = start_app(decl, "counter", count, NULL);
    assert_int_equal(brook_test_produce_n(cluster, topic, "m", 0, 10), 0);
    assert_true(BROOK_TEST_WAIT_UNTIL(
        atomic_load(&counted) == 10 && committed_sum(group, topic) == 10, 60000));

    /* Refused while the group has an active member. */
    ix_run_t r;
    expect(4, "active member", "offsets", "reset", group, "--to", "earliest", "--topic", topic,
           NULL);
    assert_int_equal(committed_sum(group, topic), 10);
    assert_int_equal(brook_app_stop(app), 0);
    brook_app_destroy(app);

    assert_int_equal(brook_test_produce_n(cluster, topic, "m", 10, 5), 0);
    long long c, e, l;
    cli(&r, NULL, "groups", "lag", group, NULL);
    EXPECT_EXIT(&r, 0);
    lag_totals(r.out, &c, &e, &l);
    assert_true(c == 10 && e == 15 && l == 5);
    ix_run_free(&r);

    expect(0, "dry run", "offsets", "reset", group, "--to", "earliest", "--dry-run", NULL);
    assert_int_equal(committed_sum(group, topic), 10);

    /* Stopped: it works, and the service starts over. */
    expect(0, "2 partition(s) reset", "offsets", "reset", group, "--to", "earliest", NULL);
    assert_int_equal(brook_test_committed(cluster, group, topic, 0), 0);
    assert_int_equal(brook_test_committed(cluster, group, topic, 1), 0);
    cli(&r, NULL, "groups", "lag", group, NULL);
    EXPECT_EXIT(&r, 0);
    lag_totals(r.out, &c, &e, &l);
    assert_true(c == 0 && e == 15 && l == 15);
    ix_run_free(&r);
    app = start_app(decl, "counter", count, NULL);
    assert_true(BROOK_TEST_WAIT_UNTIL(atomic_load(&counted) == 25, 60000));
    brook_app_stop(app);
    brook_app_destroy(app);

    char none[160];
    snprintf(none, sizeof(none), "cli-%s-no-such-group", run_id);
    expect(2, NULL, "groups", "lag", none, NULL);
}

/* ---- topics apply, describe ------------------------------------------------------------------ */

static void test_topics(void **state) {
    char topic[128], decl[2048], path[512], missing[160];
    name(topic, sizeof(topic), "applied");
    snprintf(
        decl, sizeof(decl),
        "service = { name = \"cli-%s-applied\"; };\n"
        "topics = ( { name = \"%s\"; partitions = 3; } );\n"
        "listeners = ( { id = \"l\"; topics = [ \"%s\" ]; handler = \"h\";\n"
        "  retry = { attempts = 2; backoff = { delay_ms = 100; }; mode = \"topics\"; }; } );\n",
        run_id, topic, topic);
    write_decl(path, sizeof(path), "applied.brook", decl);
    ix_run_t r;
    expect(0, "3 missing", "topics", "apply", "--dry-run", path, NULL);
    if (brook_test_is_embedded(cluster)) {
        /* The embedded cluster has no CreateTopics: a dev-broker creates them. */
        brook_error_t err = {0};
        if (brook_cluster_provision(brook_test_embedded(cluster), path, &err))
            fail_msg("provision: %s", err.message);
    } else {
        expect(0, "3 created", "topics", "apply", path, NULL);
    }
    expect(0, "0 created, 3 existed", "topics", "apply", path, NULL);
    char dlt[160];
    snprintf(dlt, sizeof(dlt), "%s-dlt", topic);
    cli(&r, NULL, "topics", "describe", topic, dlt, NULL);
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "partitions 3"));
    assert_non_null(strstr(r.out, dlt));
    ix_run_free(&r);
    name(missing, sizeof(missing), "no-such-topic");
    expect(2, NULL, "topics", "describe", missing, NULL);
}

/* ---- the command line ------------------------------------------------------------------------ */

/* Runs brook with exactly these arguments (no --bootstrap); asserts its exit code and that
 * stdout holds `says`. */
static void expect_plain(int code, const char *says, char *const argv[]) {
    ix_run_t r;
    assert_int_equal(ix_run(argv, NULL, 0, 30000, &r), 0);
    EXPECT_EXIT(&r, code);
    assert_non_null(strstr(r.out, says));
    ix_run_free(&r);
}

static void test_usage(void **state) {
    char *none[] = {(char *)brook_bin, NULL}, *help[] = {(char *)brook_bin, "--help", NULL},
         *sub_help[] = {(char *)brook_bin, "dlt", "replay", "--help", NULL};
    expect_plain(1, "", none);
    expect_plain(0, "dlt replay", help);
    expect_plain(0, "--offsets", sub_help);
    expect(1, "usage: brook consume", "consume", NULL);
    expect(1, "unknown command", "nonsense", NULL);
    expect(1, "--max wants a positive number", "consume", "t", "--max", "x", NULL);
    char missing[160];
    name(missing, sizeof(missing), "no-such-topic");
    expect(2, "does not exist", "consume", missing, NULL);
}

static int setup(void **state) {
    cluster = brook_test_cluster_new(1);
    return cluster ? 0 : -1;
}

static int teardown(void **state) {
    brook_test_cluster_destroy(cluster);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: cli_test PATH-TO-BROOK [registry]\n");
        return 2;
    }
    brook_bin = argv[1];
    signal(SIGPIPE, SIG_IGN);
    snprintf(run_id, sizeof(run_id), "%ld-%lld", (long)getpid(),
             (long long)(brook_test_now_ms() % 100000));
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/brook-cli-test-XXXXXX");
    if (!mkdtemp(tmp_dir))
        return 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),   cmocka_unit_test(test_topics),
        cmocka_unit_test(test_consume), cmocka_unit_test(test_produce),
        cmocka_unit_test(test_dlt),     cmocka_unit_test(test_groups),
    };
    /* `registry`: the tests that need the schema registry fixture (registry.cli). */
    const struct CMUnitTest registry_tests[] = {
        cmocka_unit_test(test_consume_registry),
    };
    int rc = argc > 2 && !strcmp(argv[2], "registry")
                 ? cmocka_run_group_tests(registry_tests, setup, teardown)
                 : cmocka_run_group_tests(tests, setup, teardown);
    for (int i = 0; i < written_count; i++)
        unlink(written[i]);
    rmdir(tmp_dir);
    return rc;
}
