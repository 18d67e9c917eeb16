#!/usr/bin/env bash
# Shows that the banned TorchSharp APIs of build/BannedSymbols.txt fail the build. Builds a copy of src/Models
# (with the repository's build files) plus one file that uses a few of them, and passes (exit 0) when that build
# fails with an RS0030 error naming each use, and with no other error.
#   scripts/check-banned-api.sh      (seconds to a minute; uses the restored NuGet packages, as after a build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

tar -C "$root" --exclude=bin --exclude=obj -cf - \
  Directory.Build.props Directory.Build.targets Directory.Packages.props build src/Models | tar -C "$work" -xf -
cat > "$work/src/Models/BannedUses.cs" <<'EOF'
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models;

internal static class BannedUses
{
    public static Tensor ImplicitScalar(Tensor t) => t.mul(0.5);
    public static Tensor HiddenAlpha(Tensor a, Tensor b) => a.add(b);
    public static Tensor Operator(Tensor a, Tensor b) => a + b;
    public static Tensor Range(Scalar stop) => arange(stop);
    public static optim.Optimizer TorchOptimizer(nn.Module model) => optim.SGD(model.parameters(), 0.1);
    public static nn.Module<Tensor, Tensor> TorchBatchNorm() => nn.BatchNorm2d(4);
}
EOF

expected=(
  "Scalar.implicit operator Scalar(double)"
  "torch.Tensor.add(torch.Tensor)"
  "torch.Tensor.operator +(torch.Tensor, torch.Tensor)"
  "torch.arange(Scalar, torch.ScalarType?, torch.Device?, bool)"
  "torch.optim"
  "torch.nn.BatchNorm2d(long, double, double, bool, bool, torch.Device?, torch.ScalarType?)"
)
log="$work/build.log"
if dotnet build "$work/src/Models" -c Release --nologo -clp:NoSummary > "$log" 2>&1; then
  echo "FAIL: the build with banned APIs passed"
  exit 1
fi
status=0
for symbol in "${expected[@]}"; do
  if grep -qF "error RS0030: The symbol '$symbol' is banned" "$log"; then
    echo "ok    RS0030 $symbol"
  else
    echo "FAIL  no RS0030 for $symbol"
    status=1
  fi
done
if grep -E ": error [A-Z]+[0-9]+:" "$log" | grep -v ": error RS0030:"; then
  echo "FAIL  the build failed for other reasons too (above)"
  status=1
fi
if [ "$status" -ne 0 ]; then
  grep -E ": error " "$log" | sed "s|$work/||" | sort -u
  exit 1
fi
echo "banned API check passed: the build failed with RS0030 for each of the ${#expected[@]} banned uses"
