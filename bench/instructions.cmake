# Instruction counts (bench/instructions: callgrind), brookc on 1,000 record types
# (bench/brookc_scale.py) and the codec against fastavro (bench/fastavro_codec.py, in the
# virtualenv of tests/registry/pyenv.py): include() this from bench/CMakeLists.txt after the
# other benchmarks, whose executables it runs.
add_custom_target(bench_instructions
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/instructions $<TARGET_FILE_DIR:pipeline_bench>
  DEPENDS pipeline_bench codec_bench
  COMMENT "instructions per record (callgrind): Brook vs hand-written librdkafka, generated codec vs avro-c"
  USES_TERMINAL)
add_custom_target(bench_brookc
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/brookc_scale.py $<TARGET_FILE:brookc> 1000
  DEPENDS brookc
  COMMENT "brookc on 1,000 record types"
  USES_TERMINAL)
set(_bench_python ${CMAKE_CURRENT_BINARY_DIR}/bench-python)
add_custom_target(bench_fastavro
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/registry/pyenv.py ${_bench_python}
  COMMAND ${_bench_python} ${CMAKE_CURRENT_LIST_DIR}/fastavro_codec.py
          ${CMAKE_CURRENT_LIST_DIR}/codec_order.avsc $<TARGET_FILE:codec_bench>
  DEPENDS codec_bench
  COMMENT "the generated codec vs fastavro"
  USES_TERMINAL)
# One benchmark at a time, even under -j: they would share the cores.
if(TARGET bench_batch)
  add_dependencies(bench_instructions bench_batch)
endif()
add_dependencies(bench_brookc bench_instructions)
add_dependencies(bench_fastavro bench_brookc)
add_dependencies(bench bench_instructions bench_brookc bench_fastavro)
