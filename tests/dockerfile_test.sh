#!/usr/bin/env bash
# The image can't be built on these machines (no Docker engine), so check what would
# break it: every shared library the shipped binaries link directly must come from a
# package the runtime stage installs (or the base image's libc/libstdc++).
#   dockerfile_test.sh SOURCE_DIR BIN_DIR
set -uo pipefail
src=$1 bin=$2
runtime=$(sed -n '/^FROM .* AS runtime/,$p' "$src/Dockerfile")
fail=0
for exe in saasmetrics saasctl; do
  for lib in $(readelf -d "$bin/$exe" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
    pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
    case "$pkg" in libc6|libstdc++6|libgcc-s1) continue ;; esac
    if ! grep -qw -- "$pkg" <<<"$runtime"; then
      echo "dockerfile: $exe needs $lib from package '$pkg', which the runtime stage does not install"
      fail=1
    fi
  done
done
for script in deploy/install-deps.sh; do
  grep -q "$script" "$src/Dockerfile" || { echo "dockerfile: build stage must run $script"; fail=1; }
done
[ $fail -eq 0 ] && echo "dockerfile: runtime stage covers every linked library"
exit $fail
