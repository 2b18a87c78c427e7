# SPDX-License-Identifier: MIT
# lib.sh - shared by the script tests (sourced, not run).  ctest passes the
# build's facts in the environment (see tests/scripts.cmake).
set -euo pipefail

skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { echo "+ $*"; "$@"; }

# (NMR_CXX may be empty: no C++ compiler; script_header_cxx says so.)
for v in NMR_SOURCE_DIR NMR_BUILD_DIR NMR_CMAKE NMR_CC NMR_VERSION \
         NMR_LIBDIR NMR_LIB_FILE; do
    [[ -n "${!v:-}" ]] || fail "$v is not set: run this through ctest"
done
SCRIPTS="$NMR_SOURCE_DIR/tests/scripts"

# Extra flags for every program compiled here: under a sanitizer build the
# program must carry the same runtime as the sanitized libnmr.so it loads.
read -r -a SAN <<< "${NMR_SAN_FLAGS:-}"

# A private scratch directory, removed on exit.
TMP=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/nmr-script.XXXXXX")")
trap 'rm -rf "$TMP"' EXIT

# install_into PREFIX: cmake --install the build tree, as a user would.
install_into() {
    echo "+ $NMR_CMAKE --install $NMR_BUILD_DIR --prefix $1"
    "$NMR_CMAKE" --install "$NMR_BUILD_DIR" --prefix "$1" > "$TMP/install.log" 2>&1 ||
        { cat "$TMP/install.log"; fail "cmake --install failed"; }
}

# check_loads_from PROGRAM DIR: the dynamic loader resolves libnmr from DIR
# (not from the build tree or the system), given LD_LIBRARY_PATH=DIR.
check_loads_from() {
    local line
    line=$(LD_LIBRARY_PATH="$2" ldd "$1" | grep 'libnmr\.so' || true)
    echo "  $line"
    [[ "$line" == *"=> $2/libnmr.so"* ]] ||
        fail "$1 does not load libnmr from $2"
}

# The public headers: include/netioddk.h, include/nmr/*.h and the ones
# CMake generates into the build tree (nmr/version.h), as paths relative
# to their include directory, one per line.
public_headers() {
    (cd "$NMR_SOURCE_DIR/include" && ls netioddk.h nmr/*.h)
    if [[ -n "${NMR_GENERATED_INCLUDE_DIR:-}" && -d "$NMR_GENERATED_INCLUDE_DIR/nmr" ]]; then
        (cd "$NMR_GENERATED_INCLUDE_DIR" && ls nmr/*.h)
    fi
}
# -I flags that find every public header.
PUBLIC_INC=(-I "$NMR_SOURCE_DIR/include")
if [[ -n "${NMR_GENERATED_INCLUDE_DIR:-}" ]]; then
    PUBLIC_INC+=(-I "$NMR_GENERATED_INCLUDE_DIR")
fi

# configure_fresh DIR ARGS...: configure a new build tree of libnmr in DIR
# (the source tree of this build), output in DIR.configure.log.
configure_fresh() {
    local dir=$1
    shift
    echo "+ $NMR_CMAKE -S $NMR_SOURCE_DIR -B $dir $*"
    "$NMR_CMAKE" -S "$NMR_SOURCE_DIR" -B "$dir" -DCMAKE_C_COMPILER="$NMR_CC" "$@" \
        > "$dir.configure.log" 2>&1
}
