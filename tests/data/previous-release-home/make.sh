#!/usr/bin/env bash
# Remakes this folder with the release before Alembic (commit 574c4c6, schema_version 4), run from
# a git worktree of that commit with this checkout's virtual environment and nothing installed:
# a two-line shim makes `import pocketstudio` resolve to the worktree's folders.
#   tests/data/previous-release-home/make.sh        (from anywhere inside the checkout)
set -euo pipefail
PREVIOUS=574c4c6
repo=$(git rev-parse --show-toplevel)
out="$repo/tests/data/previous-release-home"
py="$repo/.venv/bin/python"
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/prev" 2>/dev/null || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add --detach "$work/prev" "$PREVIOUS"
mkdir -p "$work/shim/pocketstudio"
echo "__path__ = ['$work/prev']  # pocketstudio.core -> $work/prev/core, ..." > "$work/shim/pocketstudio/__init__.py"
export PYTHONPATH="$work/shim" OMP_NUM_THREADS=1 TRANSFORMERS_VERBOSITY=error
cd "$work"
ps() { "$py" -c "from pocketstudio.core.cli import main; main()" "$@"; }

"$py" -c "from pocketstudio.core.generator.tiny import build_tiny_random_model as b; b('$work/tiny-model', seed=0)"
ps init --home "$work/home"
ps generate "a red circle on a blue background" -o "$work/circle.png" --model "$work/tiny-model" --seed 1 \
    --size 256 --home "$work/home" --json > circle.json
ps consent enroll --name "Ada Example" --key-out "$work/ada-key.pem" --home "$work/home" | tee enroll.txt
person=$(sed -n 's/^registered \([^:]*\):.*/\1/p' enroll.txt)
ps consent grant "$person" --key "$work/ada-key.pem" --grantee local-user --purpose general --until 2100-01-01 \
    --home "$work/home" | tee grant.txt
ps generate "Ada Example under a yellow sun" -o "$work/ada.png" --model "$work/tiny-model" --seed 2 --size 256 \
    --home "$work/home" --json > ada.json
ps audit verify --home "$work/home" | tee audit.txt
"$py" - "$work" "$person" <<'PY'
import json, re, sys
from pathlib import Path
from PIL import Image

work, person = Path(sys.argv[1]), sys.argv[2]
# A copy stripped of its metadata (pixels only, as a site that re-encodes uploads would publish it).
Image.open(work / "ada.png").convert("RGB").save(work / "ada-stripped.jpg", quality=90)
releases = {name: json.loads((work / f"{name}.json").read_text()) for name in ("circle", "ada")}
facts = {
    "commit": "574c4c6",
    "schema_version": 4,
    "releases": {name: {k: r[k] for k in ("asset_id", "decision_id", "manifest", "rule_ids", "audit_seq")}
                 for name, r in releases.items()},
    "person_id": person,
    "grant_id": re.search(r"granted (\S+):", (work / "grant.txt").read_text()).group(1),
    "audit_root": re.search(r"root ([0-9a-f]{64})", (work / "audit.txt").read_text()).group(1),
}
(work / "facts.json").write_text(json.dumps(facts, indent=2) + "\n")
PY
rm -rf "$out/home"
mkdir -p "$out/home/keys"
cp "$work/home/pocketstudio.db" "$out/home/"
cp "$work/home/keys/"*.pem "$work/home/keys/"*.pub "$work/home/keys/"*.key "$work/home/keys/master.secret" "$out/home/keys/"
cp "$work/ada-stripped.jpg" "$work/ada-key.pem" "$work/facts.json" "$out/"
ls -la "$work/home" "$work/home/keys"
du -sh "$out"
