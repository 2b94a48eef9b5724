# Cross build for 64-bit Arm Linux with Debian's GNU cross toolchain; tests run under user-mode QEMU
# (apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user; tools/cross_aarch64.sh does it all).
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(MR_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${MR_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${MR_CROSS_TRIPLE}-g++)
set(CMAKE_FIND_ROOT_PATH /usr/${MR_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and try_run) start target programs through QEMU, with the cross sysroot as the loader's root.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${MR_CROSS_TRIPLE})

# The host's Python cannot load an AArch64 library and the host's MPI cannot link into one: the test suite then
# reports the Python suites and the MPI tests as skipped (tests/CMakeLists.txt).
set(CMAKE_DISABLE_FIND_PACKAGE_Python3 ON CACHE BOOL "cross build: no target Python")
set(MOEROUTE_WITH_MPI OFF CACHE STRING "cross build: no target MPI")
