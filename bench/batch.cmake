# The batch listener benchmark (bench/batch_bench.c): include() this from bench/CMakeLists.txt.
# Adds the executable batch_bench and the target bench_batch, which runs it on the embedded
# cluster: a record listener against batch listeners of 50 and 500 records, the same records.
add_executable(batch_bench ${CMAKE_CURRENT_LIST_DIR}/batch_bench.c)
target_link_libraries(batch_bench PRIVATE brook_testkit PkgConfig::RDKAFKA Threads::Threads)
target_compile_options(batch_bench PRIVATE -O2)
add_custom_target(bench_batch
  COMMAND batch_bench 120000
  DEPENDS batch_bench
  COMMENT "batch listener benchmark: a record listener vs batch listeners"
  USES_TERMINAL)
# One benchmark at a time, even under -j: they would share the cores.
if(TARGET bench_transactions)
  add_dependencies(bench_batch bench_transactions)
endif()
add_dependencies(bench bench_batch)
