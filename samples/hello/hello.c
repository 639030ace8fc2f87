/* The smallest Brook service: it sends itself a greeting and prints it. */
#include <stdio.h>

#include "hello.brook.h" /* generated from hello.brook and greeting.avsc */

brook_result_t print_greeting(brook_ctx_t *ctx, const char *key, const hello_Greeting *greeting) {
    printf("%s says: %s\n", key, greeting->text);
    brook_app_request_stop(brook_ctx_app(ctx)); /* one is enough */
    return BROOK_OK;
}

int main(int argc, char **argv) {
    brook_error_t err = {0};
    hello_t *svc = hello_new(NULL, &err);
    if (!svc || hello_start(svc, &err)) {
        fprintf(stderr, "hello: %s\n", err.message);
        hello_destroy(svc);
        return 1;
    }
    hello_Greeting greeting = {.text = argc > 1 ? argv[1] : "hello, Brook"};
    hello_greetings_send(svc, "world", &greeting);
    int rc = hello_run(svc); /* until the handler asks to stop, or SIGINT/SIGTERM */
    hello_destroy(svc);
    return rc;
}
