# A Confluent-compatible schema registry for the tests, started by
# tests/registry/schema-registry as a ctest fixture.
#
#   brook_registry_fixture()
#       the fixture "registry": test registry.start (FIXTURES_SETUP) builds the registry on
#       first use (Maven, cached outside the build tree) and starts it in
#       ${PROJECT_BINARY_DIR}/registry; test registry.stop (FIXTURES_CLEANUP) stops it and
#       removes that folder, also when a test failed.
#   brook_registry_test(TEST_NAME COMMAND cmd... [TIMEOUT s] [KAFKA cluster]
#                       [ENVIRONMENT var=value...])
#       a test labelled "registry" that runs with BROOK_TEST_REGISTRY set to the fixture's
#       folder (`schema-registry url|requests|kill|restart` take it), and with KAFKA on that
#       real Kafka cluster fixture too (BROOK_TEST_KAFKA, see BrookKafka.cmake). The tests on
#       the registry run one at a time: they count its requests and stop it.
#
# Gated, like the Kafka tests, by BROOK_KAFKA_TESTS: it needs java and mvn.
option(BROOK_KAFKA_TESTS "Run tests on real Kafka brokers (needs java and mvn)" ON)
set(BROOK_REGISTRY_TOOL ${PROJECT_SOURCE_DIR}/tests/registry/schema-registry)
set(BROOK_REGISTRY_DIR ${PROJECT_BINARY_DIR}/registry)

function(brook_registry_fixture)
  if(NOT BROOK_KAFKA_TESTS)
    return()
  endif()
  add_test(NAME registry.start COMMAND ${BROOK_REGISTRY_TOOL} start ${BROOK_REGISTRY_DIR})
  add_test(NAME registry.stop COMMAND ${BROOK_REGISTRY_TOOL} stop ${BROOK_REGISTRY_DIR})
  # The first start on a machine builds the registry (downloads included): minutes.
  set_tests_properties(registry.start PROPERTIES FIXTURES_SETUP registry
                       LABELS "registry" TIMEOUT 1500)
  set_tests_properties(registry.stop PROPERTIES FIXTURES_CLEANUP registry
                       LABELS "registry" TIMEOUT 120)
endfunction()

function(brook_registry_test test_name)
  if(NOT BROOK_KAFKA_TESTS)
    return()
  endif()
  cmake_parse_arguments(R "" "TIMEOUT;KAFKA" "COMMAND;ENVIRONMENT" ${ARGN})
  if(NOT R_TIMEOUT)
    set(R_TIMEOUT 300)
  endif()
  set(fixtures registry)
  set(env "BROOK_LOG_LEVEL=warn;BROOK_TEST_REGISTRY=${BROOK_REGISTRY_DIR}")
  if(R_KAFKA)
    get_property(dir GLOBAL PROPERTY BROOK_KAFKA_CLUSTER_${R_KAFKA})
    list(APPEND fixtures kafka_${R_KAFKA})
    set(env "${env};BROOK_TEST_KAFKA=${dir}")
  endif()
  add_test(NAME ${test_name} COMMAND ${R_COMMAND})
  set_tests_properties(${test_name} PROPERTIES LABELS "registry" TIMEOUT ${R_TIMEOUT}
                       FIXTURES_REQUIRED "${fixtures}" RESOURCE_LOCK registry
                       ENVIRONMENT "${env};${R_ENVIRONMENT}")
endfunction()
