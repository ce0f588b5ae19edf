#!/usr/bin/env bash
# Checks that every crate builds on its own feature sets: with no default features, and
# with each feature it declares alone (`cargo check`, libraries and binaries only: the
# feature-unified build of the tests is the rest of CI). The crates and their features are
# read from `cargo metadata`, so a new crate or feature is checked without editing this.
# Prints each combination's time and the total.
set -euo pipefail
cd "$(dirname "$0")/.."

combinations="$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    print(p["name"])
    for feature in sorted(p["features"]):
        if feature != "default":
            print(p["name"], feature)
')"

started=$SECONDS
while read -r package feature; do
    step=$SECONDS
    if [ -z "${feature:-}" ]; then
        cargo check --quiet -p "$package" --no-default-features
    else
        cargo check --quiet -p "$package" --no-default-features --features "$feature"
    fi
    echo "checked $package ${feature:-(no default features)}: $((SECONDS - step)) s"
done <<<"$combinations"
echo "feature combinations checked in $((SECONDS - started)) s"
