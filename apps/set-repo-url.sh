#!/usr/bin/env bash
# Point every Argo CD object of this repository at a fork:  apps/set-repo-url.sh https://github.com/<org>/<repo>.git
# The repository URL is written in apps/ and applicationsets/ only; this rewrites each occurrence of the current one.
set -euo pipefail
cd "$(dirname "$0")/.."
new=${1:?usage: apps/set-repo-url.sh <git URL of this repository>}
[[ $new =~ ^(https://|ssh://|git@)[^[:space:]\'\"]+$ ]] || { echo "set-repo-url: not a git URL: $new" >&2; exit 2; }
current=$(sed -n 's/^ *repoURL: *\(.*\)$/\1/p' apps/bootstrap.yaml | head -n1)
[[ -n $current ]] || { echo "set-repo-url: apps/bootstrap.yaml: no repoURL found" >&2; exit 1; }
files=$(grep -rlF --include='*.yaml' -- "$current" apps applicationsets)
for file in $files; do
  python3 - "$file" "$current" "$new" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
open(path, "w").write(text.replace(old, new))
PY
done
echo "set-repo-url: $current -> $new in $(echo "$files" | wc -w) files"
