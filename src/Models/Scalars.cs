using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models;

/// <summary>
/// A workaround for a TorchSharp (0.107) hazard: a temporary Scalar freed while libtorch still reads it. These
/// are long-lived scalars and scalars held for one call. Why: TorchSharp hands a Scalar to libtorch as a raw
/// handle, and a temporary Scalar (every implicit int/double conversion, and the hidden alpha = 1 of
/// Tensor.add(Tensor)) can be finalized by a garbage collection on another thread while libtorch still reads it.
/// With several members training in one process this happens: we measured "alpha must not be a floating point
/// number" crashes and, worse, silently wrong additions in a 4-thread stress test. So tensor code in this
/// project never lets TorchSharp create a temporary Scalar: constants come from here (static, never collected)
/// and per-call values are held in a `using` variable until the call returns. build/BannedSymbols.txt makes the
/// compiler enforce it.
/// </summary>
public static class Scalars
{
    public static readonly Scalar One = 1.ToScalar();
    public static readonly Scalar Zero = 0.ToScalar();
    public static readonly Scalar Two = 2.ToScalar();

    /// <summary>A scalar for one call; dispose it (with `using`) after the last call that reads it.</summary>
    public static Scalar Of(double value) => value.ToScalar();

    /// <summary>An integer scalar for one call (keeps integer tensors integer); dispose it after the call.</summary>
    public static Scalar Of(long value) => value.ToScalar();

    /// <summary>
    /// torch.arange(start, stop), int64 unless <paramref name="dtype"/> is given: arange without a step passes
    /// temporary Scalars.
    /// </summary>
    public static Tensor Arange(long start, long stop, ScalarType? dtype = null, Device? device = null)
    {
        using var from = Of(start);
        using var to = Of(stop);
        return arange(from, to, One, dtype, device);
    }
}
