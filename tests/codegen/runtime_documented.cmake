# The functions generated code calls are exactly those listed as "the generated code's runtime"
# in framework/include/brook/avro.h: run with cmake -DSRC=<source dir> -P.
# Calls are what the templates and the golden files show (brookc emits nothing else).
file(GLOB _files ${SRC}/templates/*.tmpl ${SRC}/tests/codegen/valid/*/expected/*)
set(_called "")
foreach(f ${_files})
  file(READ ${f} _text)
  string(REGEX MATCHALL "brook__?[a-z0-9_]+[ ]*\\(" _calls "${_text}")
  foreach(c ${_calls})
    string(REGEX REPLACE "[ ]*\\($" "" c "${c}")
    list(APPEND _called ${c})
  endforeach()
endforeach()
list(REMOVE_DUPLICATES _called)
list(REMOVE_ITEM _called brook_generate) # the CMake function, named in banners
list(SORT _called)

file(READ ${SRC}/framework/include/brook/avro.h _header)
string(FIND "${_header}" "The generated code's runtime." _begin)
if(_begin LESS 0)
  message(FATAL_ERROR "avro.h: no \"The generated code's runtime.\" block")
endif()
string(SUBSTRING "${_header}" ${_begin} -1 _block)
string(FIND "${_block}" "*/" _end)
string(SUBSTRING "${_block}" 0 ${_end} _block)
string(REGEX MATCHALL "brook__?[a-z0-9_]+" _listed "${_block}")
list(REMOVE_DUPLICATES _listed)
list(REMOVE_ITEM _listed brook__avro_ brook__arena_) # the prefixes named in the text

set(_missing ${_called})
list(REMOVE_ITEM _missing ${_listed})
set(_extra ${_listed})
list(REMOVE_ITEM _extra ${_called})
if(_missing OR _extra)
  message(FATAL_ERROR "avro.h's list of the generated code's runtime is out of date:\n"
          "  called but not listed: ${_missing}\n  listed but not called: ${_extra}")
endif()
list(LENGTH _called _n)
message(STATUS "${_n} runtime functions called by generated code, all listed in avro.h")
