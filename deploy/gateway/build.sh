#!/usr/bin/env bash
# Builds saasmetrics-gateway offline from Debian's Go packages (GOPATH mode):
#   deploy/gateway/build.sh OUT_BINARY [WORK_DIR [DASHBOARD_DIR]]
# Generates the Go stubs, gateway handlers and the OpenAPI (swagger) document from
# proto/, then compiles main.go with the web dashboard's bundle (DASHBOARD_DIR, made by
# deploy/dashboard/build.mjs; default build/dashboard) embedded. The swagger JSON lands
# next to OUT_BINARY.
set -euo pipefail
out=${1:?usage: build.sh OUT_BINARY [WORK_DIR]}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${2:-$(dirname "$out")/gateway-work}
dashboard=${3:-$root/build/dashboard}
if [ ! -f "$dashboard/index.html" ] || [ ! -f "$dashboard/app.js" ]; then
  echo "build.sh: no dashboard bundle in $dashboard: build it first (cmake --build build --target dashboard)" >&2
  exit 1
fi
googleapis=/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis

# The gateway's jsonpb (golang/protobuf 1.3) renders well-known types (Timestamp as an
# RFC 3339 string, wrappers as plain values) only for its own APIv1 ptypes, so point
# the imports there rather than at the APIv2 packages the .proto files name.
wkt=Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp
wkt=$wkt,Mgoogle/protobuf/wrappers.proto=github.com/golang/protobuf/ptypes/wrappers
wkt=$wkt,Mgoogle/protobuf/duration.proto=github.com/golang/protobuf/ptypes/duration
wkt=$wkt,Mgoogle/protobuf/any.proto=github.com/golang/protobuf/ptypes/any

rm -rf "$work"
mkdir -p "$work/src/saasmetrics/gen" "$work/src/saasmetrics/gateway" "$(dirname "$out")"
protoc -I "$root/proto" -I "$googleapis" -I /usr/include \
  --go_out=plugins=grpc,$wkt:"$work/src" \
  --grpc-gateway_out=logtostderr=true,$wkt:"$work/src" \
  --swagger_out=logtostderr=true,allow_merge=true,merge_file_name=saasmetrics:"$work" \
  "$root"/proto/saasmetrics/v1/*.proto
cp "$here/main.go" "$work/src/saasmetrics/gateway/"
mkdir -p "$work/src/saasmetrics/gateway/dashboard"
cp "$dashboard"/index.html "$dashboard"/app.js "$dashboard"/app.css "$dashboard"/app.js.LEGAL.txt \
  "$work/src/saasmetrics/gateway/dashboard/"
cd "$work/src/saasmetrics/gateway"
GO111MODULE=off GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0 GOPATH="$work:/usr/share/gocode" \
  GOCACHE="${GOCACHE:-$work/.gocache}" go build -o "$out" .
cp "$work/saasmetrics.swagger.json" "$(dirname "$out")/saasmetrics.swagger.json"
echo "built $out"
