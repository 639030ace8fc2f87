# The transactions benchmark (bench/transactions_bench.c): include() this from
# bench/CMakeLists.txt. Adds the executable transactions_bench and the target
# bench_transactions, which runs it on the embedded cluster and on a real broker.
add_executable(transactions_bench ${CMAKE_CURRENT_LIST_DIR}/transactions_bench.c)
target_link_libraries(transactions_bench PRIVATE brook_testkit PkgConfig::RDKAFKA Threads::Threads)
target_compile_options(transactions_bench PRIVATE -O2)
set(_bench_txn_kafka ${PROJECT_BINARY_DIR}/kafka/bench-transactions)
add_custom_target(bench_transactions
  COMMAND transactions_bench 50000
  COMMAND ${PROJECT_SOURCE_DIR}/tests/kafka/kafka-cluster start ${_bench_txn_kafka} --max-lifetime 1200
  COMMAND ${CMAKE_COMMAND} -E env BROOK_TEST_KAFKA=${_bench_txn_kafka} $<TARGET_FILE:transactions_bench> 50000
  COMMAND ${PROJECT_SOURCE_DIR}/tests/kafka/kafka-cluster stop ${_bench_txn_kafka}
  DEPENDS transactions_bench
  COMMENT "transactions benchmark: exactly-once vs at-least-once vs hand-written librdkafka"
  USES_TERMINAL)
# One benchmark at a time, even under -j: they would share the cores.
if(TARGET bench_pipeline)
  add_dependencies(bench_transactions bench_pipeline)
endif()
add_dependencies(bench bench_transactions)
