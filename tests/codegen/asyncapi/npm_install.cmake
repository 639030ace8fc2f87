# Installs the npm packages of package-lock.json (the AsyncAPI parser and its Avro schema parser)
# into DIR, a folder of the build tree, for validate.mjs; once: a later run finds DIR's stamp of
# the same package-lock.json and downloads nothing. Run with cmake -P:
#   -DSRC=tests/codegen/asyncapi -DDIR=<build dir> -DNPM=<npm>
# npm ci installs exactly the locked versions; install scripts are not run (none is needed).
file(MAKE_DIRECTORY ${DIR})
file(SHA256 ${SRC}/package.json _json)
file(SHA256 ${SRC}/package-lock.json _lock)
set(_want "${_json} ${_lock}")
set(_stamp ${DIR}/node_modules/.brook-installed)
if(EXISTS ${_stamp})
  file(READ ${_stamp} _have)
  if(_have STREQUAL _want)
    message(STATUS "npm packages of ${SRC}/package-lock.json already installed in ${DIR}")
    return()
  endif()
endif()
foreach(f package.json package-lock.json)
  file(COPY ${SRC}/${f} DESTINATION ${DIR})
endforeach()
execute_process(COMMAND ${NPM} ci --no-audit --no-fund --ignore-scripts --prefer-offline
  WORKING_DIRECTORY ${DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "npm ci failed (${rc}) in ${DIR}")
endif()
file(WRITE ${_stamp} "${_want}")
