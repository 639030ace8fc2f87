# Tests on real Apache Kafka brokers, started by tests/kafka/kafka-cluster as ctest fixtures.
#
#   brook_kafka_cluster(NAME [BROKERS n] [EXCLUSIVE])
#       a cluster fixture: test kafka.NAME.start (FIXTURES_SETUP kafka_NAME) starts it in
#       ${PROJECT_BINARY_DIR}/kafka/NAME, test kafka.NAME.stop (FIXTURES_CLEANUP) stops it and
#       leaves no process and no port behind, also when a test failed. The tests on an
#       EXCLUSIVE cluster run one at a time (for clusters whose tests stop brokers).
#   brook_kafka_test(TEST_NAME CLUSTER NAME COMMAND cmd... [TIMEOUT s] [SERIAL])
#       a test labelled "kafka" that runs with BROOK_TEST_KAFKA set to the cluster's folder, so
#       the test fixture (brook/brook_test.h) and every app it starts use that cluster.
#
# BROOK_KAFKA_TESTS (ON by default) turns them off where neither Java nor Maven can be had.
option(BROOK_KAFKA_TESTS "Run tests on real Kafka brokers (needs java and mvn)" ON)
set(BROOK_KAFKA_CLUSTER_TOOL ${PROJECT_SOURCE_DIR}/tests/kafka/kafka-cluster)

function(brook_kafka_cluster name)
  if(NOT BROOK_KAFKA_TESTS)
    return()
  endif()
  cmake_parse_arguments(K "EXCLUSIVE" "BROKERS" "" ${ARGN})
  if(NOT K_BROKERS)
    set(K_BROKERS 1)
  endif()
  set(dir ${PROJECT_BINARY_DIR}/kafka/${name})
  add_test(NAME kafka.${name}.start
           COMMAND ${BROOK_KAFKA_CLUSTER_TOOL} start ${dir} --brokers ${K_BROKERS})
  add_test(NAME kafka.${name}.stop COMMAND ${BROOK_KAFKA_CLUSTER_TOOL} stop ${dir})
  set_tests_properties(kafka.${name}.start PROPERTIES FIXTURES_SETUP kafka_${name}
                       LABELS "kafka" TIMEOUT 600)
  set_tests_properties(kafka.${name}.stop PROPERTIES FIXTURES_CLEANUP kafka_${name}
                       LABELS "kafka" TIMEOUT 120)
  set_property(GLOBAL PROPERTY BROOK_KAFKA_CLUSTER_${name} ${dir})
  set_property(GLOBAL PROPERTY BROOK_KAFKA_EXCLUSIVE_${name} ${K_EXCLUSIVE})
endfunction()

function(brook_kafka_test test_name)
  if(NOT BROOK_KAFKA_TESTS)
    return()
  endif()
  cmake_parse_arguments(K "SERIAL" "CLUSTER;TIMEOUT" "COMMAND;ENVIRONMENT" ${ARGN})
  get_property(dir GLOBAL PROPERTY BROOK_KAFKA_CLUSTER_${K_CLUSTER})
  if(NOT dir)
    message(FATAL_ERROR "brook_kafka_test(${test_name}): no cluster ${K_CLUSTER}")
  endif()
  if(NOT K_TIMEOUT)
    set(K_TIMEOUT 300)
  endif()
  add_test(NAME ${test_name} COMMAND ${K_COMMAND})
  set_tests_properties(${test_name} PROPERTIES LABELS "kafka" TIMEOUT ${K_TIMEOUT}
                       FIXTURES_REQUIRED kafka_${K_CLUSTER}
                       ENVIRONMENT "BROOK_LOG_LEVEL=warn;BROOK_TEST_KAFKA=${dir};${K_ENVIRONMENT}")
  if(K_SERIAL)
    set_tests_properties(${test_name} PROPERTIES RUN_SERIAL TRUE)
  endif()
  get_property(exclusive GLOBAL PROPERTY BROOK_KAFKA_EXCLUSIVE_${K_CLUSTER})
  if(exclusive)
    set_tests_properties(${test_name} PROPERTIES RESOURCE_LOCK kafka_${K_CLUSTER})
  endif()
endfunction()
