#!/usr/bin/env bash
# Runs tests as an unprivileged user, as most users run them: namespace mode then works
# rootless (a user namespace) and permission checks are real. Run as root: creates the
# throwaway user if needed, copies the checkout where that user can read it, sets up its own
# virtualenv there and runs pytest with the given arguments as that user.
# Usage: bash scripts/nonroot.sh [pytest args]   (default: tests/db tests/sandbox)
#        TF_NONROOT_CWD=examples bash scripts/nonroot.sh -n 2    (the example suite)
set -euo pipefail
cd "$(dirname "$0")/.."
user=${TF_NONROOT_USER:-tfuser}
copy=${TF_NONROOT_DIR:-/tmp/tenantfixtures-nonroot}
if [ "$(id -u)" != 0 ]; then
  echo "run as root: it creates and uses the unprivileged user '$user'" >&2; exit 2
fi
id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
mkdir -p "$copy"
# The tracked files as they are in the working tree, plus untracked ones git does not ignore.
git ls-files -z --cached --others --exclude-standard \
  | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' \
  | tar --null -T - -cf - | tar -xf - -C "$copy"
chown -R "$user:" "$copy"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/db tests/sandbox)
quoted=$(printf '%q ' "${args[@]}")
cwd=${TF_NONROOT_CWD:-.}
su "$user" -s /bin/bash -c "cd '$copy' && export HOME=\$(getent passwd $user | cut -d: -f6) \
  PATH=/usr/local/bin:/usr/bin:/bin && VENV=.venv-nonroot PYTHON_VERSION=3.11 bash scripts/setup.sh >/dev/null \
  && cd '$cwd' && echo \"== as \$(id -un) (uid \$(id -u)) in $cwd: pytest $quoted\" \
  && '$copy/.venv-nonroot/bin/python' -m pytest -p no:cacheprovider $quoted"
