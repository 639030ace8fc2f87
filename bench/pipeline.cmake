# The pipeline benchmark (bench/pipeline_bench.c): include() this from bench/CMakeLists.txt.
# Adds the executable pipeline_bench and the target bench_pipeline, which runs it (throughput,
# latency and allocations in one process, then peak RSS for 1M records per variant, each in a
# process of its own) and which the `bench` target depends on.
include(BrookGenerate)
add_executable(pipeline_bench ${CMAKE_CURRENT_LIST_DIR}/pipeline_bench.c)
brook_generate(TARGET pipeline_bench
               DECLARATIONS ${CMAKE_CURRENT_LIST_DIR}/pipeline.brook
               SCHEMAS ${CMAKE_CURRENT_LIST_DIR}/pipeline_event.avsc)
# malloc & co. are defined in the executable to count allocations: the dynamic linker binds
# every library's calls to them.
target_link_libraries(pipeline_bench PRIVATE brook_testkit PkgConfig::RDKAFKA Threads::Threads)
target_compile_options(pipeline_bench PRIVATE -O2)
if(NOT TARGET bench)
  add_custom_target(bench)
endif()
# Then the same three on one real Kafka broker (tests/kafka/kafka-cluster), figures prefixed
# "kafka_".
set(_bench_kafka ${PROJECT_BINARY_DIR}/kafka/bench)
add_custom_target(bench_pipeline
  COMMAND pipeline_bench run
  COMMAND pipeline_bench rss brook 1000000
  COMMAND pipeline_bench rss raw 1000000
  COMMAND ${PROJECT_SOURCE_DIR}/tests/kafka/kafka-cluster start ${_bench_kafka} --max-lifetime 1200
  COMMAND ${CMAKE_COMMAND} -E env BROOK_TEST_KAFKA=${_bench_kafka} $<TARGET_FILE:pipeline_bench> run
  COMMAND ${PROJECT_SOURCE_DIR}/tests/kafka/kafka-cluster stop ${_bench_kafka}
  DEPENDS pipeline_bench
  COMMENT "pipeline benchmark: Brook vs hand-written librdkafka, embedded cluster and a real broker"
  USES_TERMINAL)
# One benchmark at a time, even under -j: they would share the cores.
if(TARGET bench_codec)
  add_dependencies(bench_pipeline bench_codec)
endif()
add_dependencies(bench bench_pipeline)
