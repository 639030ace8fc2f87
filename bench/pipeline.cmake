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
target_link_libraries(pipeline_bench PRIVATE PkgConfig::RDKAFKA Threads::Threads)
target_compile_options(pipeline_bench PRIVATE -O2)
if(NOT TARGET bench)
  add_custom_target(bench)
endif()
add_custom_target(bench_pipeline
  COMMAND pipeline_bench run
  COMMAND pipeline_bench rss brook 1000000
  COMMAND pipeline_bench rss raw 1000000
  DEPENDS pipeline_bench
  COMMENT "pipeline benchmark: Brook vs hand-written librdkafka on the embedded cluster"
  USES_TERMINAL)
# One benchmark at a time, even under -j: they would share the cores.
if(TARGET bench_codec)
  add_dependencies(bench_pipeline bench_codec)
endif()
add_dependencies(bench bench_pipeline)
