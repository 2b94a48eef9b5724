# Install the build into a scratch prefix, then build and run CANN-style programs against the installed
# package: with pkg-config (C and C++, shared library) and with find_package (C++ shared, C static).
# Arguments: SRC (source dir), BUILD (build dir), WORK (scratch dir), SANITIZE (ON/OFF).
file(REMOVE_RECURSE "${WORK}")
set(PREFIX "${WORK}/prefix")

function(run_checked)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(LAST_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

function(expect_documented_result what)
  foreach(line "expandedRowIdx:    2 0 1 4 3 5" "expandedExpertIdx: 0 0 1 1 2 2" "row 5: 1 1 1 1")
    string(FIND "${LAST_OUTPUT}" "${line}" pos)
    if(pos EQUAL -1)
      message(FATAL_ERROR "${what}: output lacks '${line}':\n${LAST_OUTPUT}")
    endif()
  endforeach()
  message(STATUS "${what}: documented result")
endfunction()

run_checked(${CMAKE_COMMAND} --install "${BUILD}" --prefix "${PREFIX}")

file(GLOB_RECURSE pcfile "${PREFIX}/*/moeroute.pc")
if(NOT pcfile)
  message(FATAL_ERROR "moeroute.pc was not installed")
endif()
get_filename_component(pcdir "${pcfile}" DIRECTORY)
get_filename_component(libdir "${pcdir}" DIRECTORY)
foreach(h moeroute/acl/acl.h moeroute/aclnnop/aclnn_moe_init_routing_quant.h moeroute/aclnnop/aclnn_moe_init_routing_v2.h
          moeroute/aclnnop/aclnn_moe_init_routing_quant_v2.h moeroute/aclnnop/aclnn_moe_init_routing_v3.h
          moeroute/aclnnop/aclnn_moe_compute_expert_tokens.h moeroute/moeroute.h)
  if(NOT EXISTS "${PREFIX}/include/${h}")
    message(FATAL_ERROR "header ${h} not installed under include/moeroute")
  endif()
endforeach()

set(ENV{PKG_CONFIG_PATH} "${pcdir}")
run_checked(pkg-config --cflags --libs moeroute)
string(STRIP "${LAST_OUTPUT}" pcflags)
separate_arguments(pcflags UNIX_COMMAND "${pcflags}")
set(extra)
if(SANITIZE)
  set(extra -fsanitize=address,undefined)
endif()
set(ENV{LD_LIBRARY_PATH} "${libdir}")

# The CANN-style C++ sample exactly as shipped in examples/, compiled unchanged through pkg-config.
run_checked(c++ "${SRC}/examples/cann_sample.cpp" ${pcflags} ${extra} -o "${WORK}/sample_cxx")
run_checked("${WORK}/sample_cxx")
expect_documented_result("pkg-config C++")
# The V3 sample (examples/cann_init_routing_v3.cpp), also unchanged: copy and dynamic int8 routing.
run_checked(c++ "${SRC}/examples/cann_init_routing_v3.cpp" ${pcflags} ${extra} -o "${WORK}/sample_v3")
run_checked("${WORK}/sample_v3")
foreach(line "expandedRowIdx: 2 4 0 3 1 5" "expertTokens: 2 2 2" "row 0: 0.2" "row 5: 127 127 127 127 scale 0.00236220472")
  string(FIND "${LAST_OUTPUT}" "${line}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "V3 sample: output lacks '${line}':\n${LAST_OUTPUT}")
  endif()
endforeach()
message(STATUS "pkg-config C++ V3 sample: documented result")
# The gating / permute / unpermute sample (examples/cann_gating_combine.cpp), unchanged; it checks itself.
run_checked(c++ "${SRC}/examples/cann_gating_combine.cpp" ${pcflags} ${extra} -o "${WORK}/sample_gating")
run_checked("${WORK}/sample_gating")
message(STATUS "pkg-config C++ gating sample: verified")
run_checked(cc -std=c11 -Wall -Wextra -Werror "${SRC}/tests/consumer/cann_sample.c" ${pcflags} ${extra}
            -o "${WORK}/sample_c")
run_checked("${WORK}/sample_c")
message(STATUS "pkg-config C: ${LAST_OUTPUT}")

# find_package(moeroute): C++ against the shared library, C against the static one.
run_checked(${CMAKE_COMMAND} -S "${SRC}/tests/consumer/cmake_project" -B "${WORK}/cmake_build"
            "-DCMAKE_PREFIX_PATH=${PREFIX}" "-DCXX_SAMPLE=${SRC}/examples/cann_sample.cpp"
            "-DC_SAMPLE=${SRC}/tests/consumer/cann_sample.c"
            "-DCMAKE_C_FLAGS=${extra}" "-DCMAKE_CXX_FLAGS=${extra}" "-DCMAKE_EXE_LINKER_FLAGS=${extra}")
run_checked(${CMAKE_COMMAND} --build "${WORK}/cmake_build")
run_checked("${WORK}/cmake_build/consumer_cxx")
expect_documented_result("find_package C++ (shared)")
run_checked("${WORK}/cmake_build/consumer_c_static")
message(STATUS "find_package C (static): ${LAST_OUTPUT}")

# The expert-parallel sample (examples/cann_distribute.cpp), unchanged: ranks as threads; and, where MPI and
# libmoeroute_mpi are installed, the same source built with mpicxx (-DCANN_DISTRIBUTE_MPI) and run under mpirun as
# MPI processes (docs/hccl.md: compile flags from pkg-config, link libmoeroute_mpi instead of libmoeroute).
run_checked(c++ "${SRC}/examples/cann_distribute.cpp" ${pcflags} ${extra} -pthread -o "${WORK}/sample_distribute")
run_checked("${WORK}/sample_distribute" --ranks 4 --quant 2)
message(STATUS "pkg-config C++ expert-parallel sample (threads): verified")
find_program(MR_MPICXX mpicxx)
find_program(MR_MPIRUN NAMES mpirun mpiexec)
if(EXISTS "${libdir}/libmoeroute_mpi.so" AND MR_MPICXX AND MR_MPIRUN)
  run_checked(pkg-config --cflags moeroute)
  string(STRIP "${LAST_OUTPUT}" mpi_cflags)
  separate_arguments(mpi_cflags UNIX_COMMAND "${mpi_cflags}")
  run_checked(${MR_MPICXX} -DCANN_DISTRIBUTE_MPI "${SRC}/examples/cann_distribute.cpp" ${mpi_cflags} ${extra}
              "-L${libdir}" -lmoeroute_mpi -pthread -o "${WORK}/sample_distribute_mpi")
  execute_process(COMMAND ${MR_MPIRUN} --version OUTPUT_VARIABLE mpirun_version ERROR_QUIET)
  set(mpirun_flags)
  if(mpirun_version MATCHES "Open MPI|OpenRTE")
    set(mpirun_flags --oversubscribe)
    set(ENV{OMPI_ALLOW_RUN_AS_ROOT} 1) # CI runs as root
    set(ENV{OMPI_ALLOW_RUN_AS_ROOT_CONFIRM} 1)
  endif()
  if(SANITIZE)
    set(ENV{ASAN_OPTIONS} detect_leaks=0) # MPI's own allocations
  endif()
  run_checked(${MR_MPIRUN} -np 2 ${mpirun_flags} "${WORK}/sample_distribute_mpi" --quant 2)
  message(STATUS "mpicxx expert-parallel sample (MPI processes, libmoeroute_mpi): verified")
else()
  message(STATUS "mpicxx expert-parallel sample not built: no libmoeroute_mpi installed, or no mpicxx / mpirun")
endif()
