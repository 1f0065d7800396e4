#!/usr/bin/env bash
# tools/run.sh: install what is missing (apt), build into build/, and start Herd.
# Starts the desktop app when it is built (with the bundled demo model when no model is
# configured); without a display, or if the app is not built, runs herd-cli on a bundled model.
# Extra arguments are passed to the program.
set -eu
cd "$(dirname "$0")/.."
source tools/deps.sh
herd_install_deps
if [ -f build/build.ninja ]; then
  meson setup --reconfigure build -Dbuildtype=release >/dev/null
else
  meson setup build -Dbuildtype=release
fi
ninja -C build
if [ -x build/ui/herd ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
  export GSETTINGS_SCHEMA_DIR="$PWD/build/resources${GSETTINGS_SCHEMA_DIR:+:$GSETTINGS_SCHEMA_DIR}"
  exec build/ui/herd "$@"
fi
model=resources/models/herd-demo.gguf
mmproj=resources/models/herd-demo-mmproj.gguf
if [ -f "$model" ]; then
  echo "herd: no display (or no app): running herd-cli with the bundled demo model"
  exec build/app/herd-cli run -m "$model" --mmproj "$mmproj" -p "${1:-What are you?}" --temp 0
fi
echo "herd: no display (or no app): running herd-cli on the bundled test model"
echo "herd: (a tiny random-weight Llama 4: it shows the pipeline works, its words are noise)"
exec build/app/herd-cli run -m tests/fixtures/models/tiny-f32.gguf \
  --mmproj tests/fixtures/models/tiny-mmproj-f32.gguf --image tests/fixtures/images/square.png \
  -p "${1:-What is in this picture?}" -n 24 --temp 0 --stats
