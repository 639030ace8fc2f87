# brook_generate(TARGET t
#                [DECLARATIONS a.brook [b.brook ...]] # services: types, templates, listeners
#                [TYPES_NAME name]                 # the shared types unit (several declarations)
#                [SCHEMAS a.avsc ...]              # schemas (dependencies; the schemas of a
#                                                  #   declaration are read from it)
#                [WRITER_SCHEMAS old.avsc ...]     # more dependencies
#                [NAME unit]                       # unit name (required without DECLARATIONS;
#                                                  #   one declaration only)
#                [OUT_DIR dir]                     # default ${CMAKE_CURRENT_BINARY_DIR}/brook_gen/<t>
#                [TEMPLATES dir])                  # brookc --templates
#
# Runs brookc at build time (like protobuf_generate) and adds the generated sources to target t,
# the output directory to its include path and libbrook to its libraries.
#
# One declaration makes one unit, <service>.brook.h/.c, with the service's types. Several
# declarations (or TYPES_NAME) are generated in one brookc run so that the services can live in
# one binary: <TYPES_NAME>.brook.h/.c (default <t>_types) defines every named type of all their
# schemas once, and each <service>.brook.h/.c holds only that service's glue (its header
# includes the types header). Call brook_generate once per binary with all its services.
#
# Works in Brook's own tree (the brookc target) and from an installed Brook (find_package(brook)
# sets brook::brookc or BROOKC_EXECUTABLE).

# The unit of a declaration file: its service name with non-identifier characters mapped to '_'
# (as brookc does), read at configure time; the file is a configure dependency.
function(_brook_generate_unit_name decl out_var)
  file(READ ${decl} _text)
  string(REGEX REPLACE "#[^\n]*" "" _text "${_text}")
  string(REGEX MATCH "service[ \t\r\n]*[=:][ \t\r\n]*{[^}]*name[ \t\r\n]*[=:][ \t\r\n]*\"([^\"]*)\"" _m "${_text}")
  if(NOT CMAKE_MATCH_1)
    message(FATAL_ERROR "brook_generate: cannot find service.name in ${decl}; pass NAME")
  endif()
  string(REGEX REPLACE "[^A-Za-z0-9]" "_" _unit "${CMAKE_MATCH_1}")
  if(_unit MATCHES "^[0-9]")
    set(_unit "s_${_unit}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${decl})
  set(${out_var} ${_unit} PARENT_SCOPE)
endfunction()

function(brook_generate)
  cmake_parse_arguments(BG "" "TARGET;NAME;TYPES_NAME;OUT_DIR;TEMPLATES" "DECLARATIONS;SCHEMAS;WRITER_SCHEMAS" ${ARGN})
  if(NOT BG_TARGET)
    message(FATAL_ERROR "brook_generate: TARGET is required")
  endif()
  if(NOT BG_DECLARATIONS AND NOT BG_SCHEMAS)
    message(FATAL_ERROR "brook_generate: DECLARATIONS or SCHEMAS is required")
  endif()
  if(TARGET brookc)
    set(_brookc $<TARGET_FILE:brookc>)
    set(_brookc_dep brookc)
  elseif(TARGET brook::brookc)
    set(_brookc $<TARGET_FILE:brook::brookc>)
    set(_brookc_dep brook::brookc)
  elseif(BROOKC_EXECUTABLE)
    set(_brookc ${BROOKC_EXECUTABLE})
    set(_brookc_dep ${BROOKC_EXECUTABLE})
  else()
    find_program(BROOKC_EXECUTABLE brookc)
    if(NOT BROOKC_EXECUTABLE)
      message(FATAL_ERROR "brook_generate: brookc not found (set BROOKC_EXECUTABLE)")
    endif()
    set(_brookc ${BROOKC_EXECUTABLE})
    set(_brookc_dep ${BROOKC_EXECUTABLE})
  endif()
  if(TARGET brook)
    set(_brook_lib brook)
  else()
    set(_brook_lib brook::brook)
  endif()
  if(NOT BG_OUT_DIR)
    set(BG_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/brook_gen/${BG_TARGET})
  endif()
  set(_extra)
  set(_tmpl_deps)
  if(BG_TEMPLATES)
    get_filename_component(BG_TEMPLATES ${BG_TEMPLATES} ABSOLUTE)
    list(APPEND _extra --templates ${BG_TEMPLATES})
    file(GLOB _tmpl_deps ${BG_TEMPLATES}/*.tmpl)
  endif()
  set(_schemas)
  foreach(s ${BG_SCHEMAS} ${BG_WRITER_SCHEMAS})
    get_filename_component(_abs ${s} ABSOLUTE)
    list(APPEND _schemas ${_abs})
  endforeach()

  set(_units)
  list(LENGTH BG_DECLARATIONS _ndecls)
  if(_ndecls GREATER 1 OR (BG_DECLARATIONS AND BG_TYPES_NAME))
    # Several services, one run: a shared types unit and one glue unit per service.
    if(BG_NAME)
      message(FATAL_ERROR "brook_generate: NAME names the unit of one declaration; with several, "
                          "each unit is named after its service (TYPES_NAME names the types unit)")
    endif()
    if(BG_TYPES_NAME)
      set(_types ${BG_TYPES_NAME})
    else()
      string(MAKE_C_IDENTIFIER "${BG_TARGET}_types" _types)
    endif()
    set(_decls)
    set(_outputs ${BG_OUT_DIR}/${_types}.brook.h ${BG_OUT_DIR}/${_types}.brook.c)
    list(APPEND _units ${BG_OUT_DIR}/${_types}.brook.c ${BG_OUT_DIR}/${_types}.brook.h)
    foreach(decl ${BG_DECLARATIONS})
      get_filename_component(_decl ${decl} ABSOLUTE)
      _brook_generate_unit_name(${_decl} _unit)
      list(APPEND _decls ${_decl})
      list(APPEND _outputs ${BG_OUT_DIR}/${_unit}.brook.h ${BG_OUT_DIR}/${_unit}.brook.c)
      list(APPEND _units ${BG_OUT_DIR}/${_unit}.brook.c ${BG_OUT_DIR}/${_unit}.brook.h)
    endforeach()
    add_custom_command(
      OUTPUT ${_outputs}
      COMMAND ${_brookc} ${_decls} --types-name ${_types} --out ${BG_OUT_DIR} ${_extra}
      DEPENDS ${_decls} ${_schemas} ${_tmpl_deps} ${_brookc_dep}
      COMMENT "brookc: generating ${_types}.brook.h/.c and ${_ndecls} services' glue"
      VERBATIM)
  elseif(BG_DECLARATIONS)
    get_filename_component(_decl ${BG_DECLARATIONS} ABSOLUTE)
    set(_name_arg)
    if(BG_NAME)
      set(_unit ${BG_NAME})
      set(_name_arg --name ${BG_NAME})
    else()
      _brook_generate_unit_name(${_decl} _unit)
    endif()
    set(_h ${BG_OUT_DIR}/${_unit}.brook.h)
    set(_c ${BG_OUT_DIR}/${_unit}.brook.c)
    add_custom_command(
      OUTPUT ${_h} ${_c}
      COMMAND ${_brookc} ${_decl} --out ${BG_OUT_DIR} ${_name_arg} ${_extra}
      DEPENDS ${_decl} ${_schemas} ${_tmpl_deps} ${_brookc_dep}
      COMMENT "brookc: generating ${_unit}.brook.h/.c from ${BG_DECLARATIONS}"
      VERBATIM)
    list(APPEND _units ${_c} ${_h})
  else()
    if(NOT BG_NAME)
      message(FATAL_ERROR "brook_generate: SCHEMAS without DECLARATIONS needs NAME")
    endif()
    set(_h ${BG_OUT_DIR}/${BG_NAME}.brook.h)
    set(_c ${BG_OUT_DIR}/${BG_NAME}.brook.c)
    add_custom_command(
      OUTPUT ${_h} ${_c}
      COMMAND ${_brookc} --schemas ${_schemas} --name ${BG_NAME} --out ${BG_OUT_DIR} ${_extra}
      DEPENDS ${_schemas} ${_tmpl_deps} ${_brookc_dep}
      COMMENT "brookc: generating ${BG_NAME}.brook.h/.c"
      VERBATIM)
    list(APPEND _units ${_c} ${_h})
  endif()
  target_sources(${BG_TARGET} PRIVATE ${_units})
  target_include_directories(${BG_TARGET} PRIVATE ${BG_OUT_DIR})
  target_link_libraries(${BG_TARGET} PRIVATE ${_brook_lib})
endfunction()
