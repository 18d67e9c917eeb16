namespace PapaActors.Models;

/// <summary>
/// Derives independent 63-bit seeds from a run seed and a path of integers (member, epoch, round ...),
/// so that every random stream is a pure function of its coordinates and never of thread timing.
/// SplitMix64 finalisers are used because .NET's HashCode is randomised per process.
/// </summary>
public static class Seeds
{
    /// <summary>The independent random streams of a run; the first element of every derivation path.</summary>
    public enum Stream : long { Init = 1, DataOrder = 2, BatchNorm = 3, Schedule = 4, Augmentation = 5, Variations = 6, Repair = 7, Features = 8 }

    public static long Derive(long seed, Stream stream, params long[] path) => Derive(seed, [(long)stream, .. path]);

    public static long Derive(long seed, params long[] path)
    {
        var state = Mix((ulong)seed);
        foreach (var part in path)
            state = Mix(state ^ Mix((ulong)part + 0x9E3779B97F4A7C15UL));
        return (long)(state >> 1);
    }

    /// <summary>A 32-bit seed for <see cref="System.Random"/>, whose seeded algorithm is stable across .NET versions.</summary>
    public static int DeriveInt(long seed, Stream stream, params long[] path) => (int)(Derive(seed, stream, path) & int.MaxValue);

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
