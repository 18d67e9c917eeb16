# Sourced by the scripts here: sets papa=(dotnet .../papa.dll), building src/Host first when needed, unless
# PAPA_DLL names a build to use (the tests set it). Needs $root, the repository folder.
if [ -z "${PAPA_DLL:-}" ]; then
  "$root/papa" --version >/dev/null # builds when needed
  PAPA_DLL="$root/src/Host/bin/Release/net10.0/papa.dll"
fi
papa=(dotnet "$PAPA_DLL")
