#!/bin/sh
# build-images.sh [PREFIX]: builds PREFIX:v1, PREFIX:v2 and PREFIX:broken
# (default PREFIX drover-hello) from this folder, FROM scratch, with nothing
# pulled. Each tag holds a binary built with its own version string, so the
# three have different image IDs.
set -eu
prefix=${1:-drover-hello}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/Dockerfile" "$work/"
for v in v1 v2 broken; do
	(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$v" -o "$work/hello" .)
	# The legacy builder warns that it is deprecated on every run: show its
	# output only when the build fails.
	if ! DOCKER_BUILDKIT=0 docker build -q -t "$prefix:$v" "$work" >"$work/log" 2>&1; then
		cat "$work/log" >&2
		exit 1
	fi
	echo "built $prefix:$v"
done
