# Runs every example in turn and stops at the first that fails.
separate_arguments(EXAMPLES)
foreach(ex ${EXAMPLES})
  message("==== ${ex}")
  execute_process(COMMAND ${DIR}/${ex} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "example ${ex} failed (${rc})")
  endif()
endforeach()
