#!/usr/bin/env bash
# Builds the Open MPI all-reduce baseline and runs it at -np 2 (override with NP=4).
#   bash bench/compare/run-mpi.sh                         # -b 8 -e 16M -f 2 -n 20 -w 5 -c 1
#   bash bench/compare/run-mpi.sh -b 8 -e 1M -f 4 --json mpi.json
#   MPI_BUILD_DIR=/tmp/x bash bench/compare/run-mpi.sh     # build the binary there instead of bench/compare/build
# Needs Debian's openmpi-bin and libopenmpi-dev (apt-get install openmpi-bin libopenmpi-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
np=${NP:-2}
# Where the binary is built (default bench/compare/build; the tests pass a temporary folder).
build=${MPI_BUILD_DIR:-$here/build}
command -v mpicc >/dev/null || { echo "run-mpi.sh: mpicc not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 3; }
mkdir -p "$build"
if [[ ! -x $build/mpi_allreduce || $here/mpi_allreduce.c -nt $build/mpi_allreduce ]]; then
  mpicc -O2 -Wall -Wextra -o "$build/mpi_allreduce" "$here/mpi_allreduce.c"
fi
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=(-b 8 -e 16M -f 2 -n 20 -w 5 -c 1)
# Root in containers: Open MPI refuses root unless told; shared-memory single-copy (CMA) is often
# blocked by ptrace rules there, so use the copy-in/copy-out path, as a plain install would fall back to.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun --oversubscribe -np "$np" --bind-to none \
  --mca btl self,vader --mca btl_vader_single_copy_mechanism none \
  "$build/mpi_allreduce" "${args[@]}"
