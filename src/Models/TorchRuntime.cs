using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace PapaActors.Models;

/// <summary>
/// Process-wide settings for libtorch on CPU, with a workaround for glibc malloc's defaults, which make tensor
/// buffers cost page faults every step and keep freed memory (see <see cref="Configure"/> and
/// <see cref="ReleaseFreedMemory"/>). Call <see cref="Configure"/> once, before training.
/// </summary>
public static partial class TorchRuntime
{
    private const int MallocTrimThreshold = -1;
    private const int MallocTopPad = -2;
    private const int MallocMmapThreshold = -3;
    private static readonly Lock Gate = new();
    private static bool _mallocTuned;
    private static bool _loaded;

    /// <summary>
    /// Sets libtorch's intra-op thread count (process-wide) and tunes glibc malloc for tensor workloads.
    /// Why the malloc tuning: with glibc's defaults every activation buffer above the dynamic mmap threshold is
    /// mmap-ed and unmapped again each step, so a small CNN spends ~40% of a core in page faults. Keeping such
    /// buffers on the heap doubled single-thread training throughput here (measured: ~650 -> ~1500 samples/s).
    /// No library exposes mallopt, hence the P/Invoke.
    /// </summary>
    public static void Configure(int intraOpThreads)
    {
        if (intraOpThreads < 1)
            throw new ArgumentOutOfRangeException(nameof(intraOpThreads), intraOpThreads, "at least one thread");
        EnsureLoaded();
        lock (Gate)
        {
            if (!_mallocTuned && OperatingSystem.IsLinux())
            {
                mallopt(MallocMmapThreshold, 32 << 20);
                mallopt(MallocTrimThreshold, 1 << 30);
                mallopt(MallocTopPad, 64 << 20);
                _mallocTuned = true;
            }
            set_num_threads(intraOpThreads);
        }
    }

    /// <summary>
    /// Loads libtorch (TorchSharp's native library and its dependencies) once, naming the real cause when it cannot:
    /// left to itself, TorchSharp reports any load failure as a missing package reference (in 85 lines, after copying
    /// its native files into a new folder), while dlopen says why, e.g. "failed to map segment from shared object"
    /// under an address-space limit.
    /// </summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded)
                return;
            try
            {
                NativeLibrary.Load("LibTorchSharp", typeof(TorchSharp.torch).Assembly, null);
            }
            catch (DllNotFoundException e)
            {
                var limit = ProcessMemory.AddressSpaceLimit() is { } bytes ? $" (the address-space limit, ulimit -v, is {ProcessMemory.Format(bytes)})" : "";
                throw new TorchLoadException($"libtorch could not be loaded: {LoaderCause(e.Message)}{limit}", e);
            }
            _loaded = true;
        }
    }

    /// <summary>The loader's reason for the library that exists; the message also lists every other path it tried.</summary>
    private static string LoaderCause(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Skip(1).FirstOrDefault(l => !l.EndsWith("No such file or directory", StringComparison.Ordinal)) ?? lines[0];
    }

    /// <summary>
    /// Intra-op threads for <paramref name="members"/> members sharing this process: the configured count
    /// (papa.torch-threads), or when it is 0 each member's share of the cores.
    /// </summary>
    public static int ThreadsFor(int configured, int members) =>
        configured > 0 ? configured : Math.Max(1, Environment.ProcessorCount / Math.Max(1, members));

    /// <summary>
    /// Gives the heap memory that freed tensors left behind back to the OS. The raised trim threshold keeps
    /// it otherwise, in the arena of the thread that used it: a process that runs one population after another
    /// (benchmarks, tests) grew by every finished run's members (measured: `papa bench --quick` peaked at 4.8 GB).
    /// Call it when a member's model is gone.
    /// </summary>
    public static void ReleaseFreedMemory()
    {
        if (OperatingSystem.IsLinux())
            malloc_trim(0);
    }

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int parameter, int value);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int malloc_trim(nuint pad);
}

/// <summary>libtorch cannot be loaded in this process (the message names the loader's reason).</summary>
public sealed class TorchLoadException(string message, Exception inner) : Exception(message, inner);
