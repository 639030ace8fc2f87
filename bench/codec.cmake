# The codec micro-benchmark (bench/codec_bench.c): include() this from bench/CMakeLists.txt.
# Adds the executable codec_bench and, when a `bench` target exists, makes it run there.
include(BrookGenerate)
add_executable(codec_bench ${CMAKE_CURRENT_LIST_DIR}/codec_bench.c)
brook_generate(TARGET codec_bench NAME codec_bench SCHEMAS ${CMAKE_CURRENT_LIST_DIR}/codec_order.avsc)
target_link_libraries(codec_bench PRIVATE PkgConfig::AVRO)
target_compile_options(codec_bench PRIVATE -O2)
if(TARGET bench)
  add_custom_target(bench_codec COMMAND codec_bench DEPENDS codec_bench USES_TERMINAL)
  add_dependencies(bench bench_codec)
endif()
