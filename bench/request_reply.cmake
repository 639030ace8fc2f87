# The request-reply benchmark (bench/request_reply_bench.c): include() this from
# bench/CMakeLists.txt. Adds the executable request_reply_bench and the target
# bench_request_reply, which runs it on the embedded cluster and on a real broker.
include(BrookGenerate)
add_executable(request_reply_bench ${CMAKE_CURRENT_LIST_DIR}/request_reply_bench.c)
brook_generate(TARGET request_reply_bench
               DECLARATIONS ${CMAKE_CURRENT_LIST_DIR}/request_reply.brook)
target_link_libraries(request_reply_bench PRIVATE brook_testkit PkgConfig::RDKAFKA Threads::Threads)
target_compile_options(request_reply_bench PRIVATE -O2)
set(_bench_rr_kafka ${PROJECT_BINARY_DIR}/kafka/bench-request-reply)
add_custom_target(bench_request_reply
  COMMAND request_reply_bench
  COMMAND ${PROJECT_SOURCE_DIR}/tests/kafka/kafka-cluster start ${_bench_rr_kafka} --max-lifetime 1200
  COMMAND ${CMAKE_COMMAND} -E env BROOK_TEST_KAFKA=${_bench_rr_kafka} $<TARGET_FILE:request_reply_bench>
  COMMAND ${PROJECT_SOURCE_DIR}/tests/kafka/kafka-cluster stop ${_bench_rr_kafka}
  DEPENDS request_reply_bench
  COMMENT "request-reply benchmark: round trips through Brook vs hand-written librdkafka"
  USES_TERMINAL)
# One benchmark at a time, even under -j: they would share the cores.
if(TARGET bench_transactions)
  add_dependencies(bench_request_reply bench_transactions)
endif()
add_dependencies(bench bench_request_reply)
