# Sourced by the scripts here: sets papa=(dotnet .../papa.dll), building src/Host first when needed, unless
# PAPA_DLL names a build to use (the tests set it). Needs $root, the repository folder.
if [ -z "${PAPA_DLL:-}" ]; then
  "$root/papa" --version >/dev/null # builds when needed
  PAPA_DLL="$root/src/Host/bin/Release/net10.0/papa.dll"
fi
papa=(dotnet "$PAPA_DLL")

# Whether PID is still a process this script started. One that ended is reaped, and its number can go to another
# process, or to a thread of one, which a signal would end (the tests' own host, once): signal children only
# through signal_child, and ask whether one still runs with own_child.
own_child() { [ "$(awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null)" = "$$" ]; }
signal_child() { # SIGNAL PID
  if own_child "$2"; then kill "-$1" "$2" 2>/dev/null || true; fi
}
