/* Sanitizer builds (BROOK_SANITIZE=ON) only. The services' generated units each define the
 * types of the schemas they share (same schema, same code), which the shop links with
 * --allow-multiple-definition (see CMakeLists.txt); AddressSanitizer reports such identical
 * duplicates as an ODR violation. Everything else stays checked. Unused without ASan. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "detect_odr_violation=0";
}
