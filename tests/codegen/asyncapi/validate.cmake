# brookc --asyncapi's documents, parsed by the AsyncAPI parser (validate.mjs, run by node with
# the packages npm_install.cmake installed in DIR). Run with cmake -P:
#   -DBROOKC=<brookc> -DNODE=<node> -DSRC=tests/codegen/asyncapi -DDIR=<npm dir> -DOUT=<dir>
#   -DDECLS=<a.brook|b.brook|...>: services whose documents brookc writes now, one each
#   -DDOCS=<a.json|b.json|...>: documents already written (golden files) to parse as well
string(REPLACE "|" ";" _decls "${DECLS}")
string(REPLACE "|" ";" _docs "${DOCS}")
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${BROOKC} --asyncapi ${_decls} --out ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "brookc --asyncapi failed (${rc})")
endif()
file(GLOB _written ${OUT}/*.asyncapi.json)
list(LENGTH _decls _n)
list(LENGTH _written _m)
if(NOT _n EQUAL _m)
  message(FATAL_ERROR "brookc wrote ${_m} documents for ${_n} services: ${_written}")
endif()
# node resolves the script's imports from its own folder: next to node_modules
file(COPY ${SRC}/validate.mjs DESTINATION ${DIR})
execute_process(COMMAND ${NODE} ${DIR}/validate.mjs ${_written} ${_docs} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the AsyncAPI parser found errors (above)")
endif()
